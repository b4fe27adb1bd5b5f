"""A sandboxed command that starts a background child and exits (``sleep 30 &``).

The agent's shell tool must return at the command's exit (not at its timeout, not
when the child ends), and nothing of the command may stay behind on the host: the
child dies with the sandbox's PID namespace (bwrap's own init is PID 1 in it, reaps
orphans while the command runs, and takes the namespace down when the command
exits; ``--die-with-parent`` covers a killed agent), and no process of ours is left
a zombie. Real bubblewrap, real processes; the child's host pid is found while the
command still runs, so the check cannot pass vacuously.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from realtalk.agent import AgentEvent, CommandOutput
from realtalk.agent._process import EXIT_GRACE_S
from realtalk.agent._tools import ToolRunner
from realtalk.protocol.responses import FunctionCall

from .._fifo import fifo_at
from .._procs import pids_running, wait_gone

TIMEOUT_S = 20.0
"""The command's timeout: the call must end far sooner."""
GONE_WAIT_S = 5.0
"""Longest wait for the child to be gone after the call returned (it takes milliseconds)."""


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO the command blocks on (``cat``) until the test writes to it."""
    with fifo_at(tmp_path / "gate.fifo") as path:
        yield path


def our_zombies() -> list[int]:
    """Children of this process that exited and were never reaped."""
    me, zombies = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                state, ppid = stat.rsplit(")", 1)[1].split()[:2]
                if state == "Z" and int(ppid) == me:
                    zombies.append(int(entry))
    return zombies


# The child keeps the command's output open; closes it; leaves the session; ignores
# the hang-up and the terminate signals. The command waits until the child runs
# (``$!`` has exec'd the sleep: setsid and nohup run it in their own process), then
# blocks on the FIFO; released, it exits with 3.
_RUNS = (
    "until tr '\\0' ' ' </proc/$!/cmdline 2>/dev/null | grep -q '^sleep {mark}'; do :; done; "
    "cat {fifo}; exit 3"
)
SCRIPTS = {
    "holds-output": "{child} & " + _RUNS,
    "closed-output": "{child} </dev/null >/dev/null 2>&1 & " + _RUNS,
    "own-session": "setsid {child} </dev/null >/dev/null 2>&1 & " + _RUNS,
    "ignores-signals": "trap '' HUP TERM; nohup {child} >/dev/null 2>&1 & " + _RUNS,
}


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS.keys())
async def test_a_background_child_neither_hangs_the_agent_nor_stays(
    tmp_path: Path, fifo: Path, script: str
) -> None:
    child = ["sleep", f"30.{uuid.uuid4().int % 10**9}"]  # a command line no one else has
    events: list[AgentEvent] = []

    async def emit(event: AgentEvent) -> None:
        events.append(event)

    runner = ToolRunner(
        workspace=tmp_path,
        enable_shell=True,
        shell_timeout_s=TIMEOUT_S,
        output_cap_bytes=4096,
        emit=emit,
    )
    text = script.format(child=" ".join(child), mark=child[1], fifo=fifo.name)
    command = ["sh", "-c", text]
    call = FunctionCall("call_bg", "shell", msgspec.json.encode({"command": command}).decode())
    tool = asyncio.create_task(runner.run(call))
    try:
        async with asyncio.timeout(TIMEOUT_S / 2):  # returns once `cat` has the FIFO open
            writer = await asyncio.to_thread(fifo.open, "w")
        with writer:
            (pid,) = pids_running(*child)  # it runs on the host, in the sandbox
            assert not tool.done()
            writer.write("released\n")
        started = time.monotonic()
        async with asyncio.timeout(TIMEOUT_S / 2):
            out = await tool
        took = time.monotonic() - started
        assert out.startswith("Exit code: 3\n"), out  # the command's status, not a timeout
        assert "released" in out
        assert took < EXIT_GRACE_S + 2.0, f"the call took {took:.2f} s after the command exited"
        await wait_gone(pid, GONE_WAIT_S)  # TimeoutError: the child outlived the command
        assert pids_running(*child) == []
        assert our_zombies() == []
        assert any(isinstance(e, CommandOutput) for e in events)  # its output was streamed
    finally:
        tool.cancel()
        await asyncio.gather(tool, return_exceptions=True)
        for leftover in pids_running(*child):
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)

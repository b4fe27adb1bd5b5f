"""``realtalk talk`` while the agent works, as a real subprocess, offline.

The agent's command is ``cat gate``, a FIFO in the workspace: opening the gate for
writing returns once the command runs (the delegation is under way), writing to it
and closing it lets the command finish, and a write that fails proves the command is
gone. Nothing is timed by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import pytest

from tests.cli._run import Run, clean_env, run_talk

WAIT_S = 60.0
TYPED_LATENCY_LIMIT_MS = 200.0


class Talk:
    """``realtalk talk`` with its stdin as the person's keyboard."""

    def __init__(self, proc: asyncio.subprocess.Process, events: Path) -> None:
        self.proc = proc
        self.events = events
        self.out = b""

    @classmethod
    async def start(cls, tmp_path: Path, *args: str) -> Talk:
        events = tmp_path / "events.jsonl"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "realtalk",
            "talk",
            "--events-jsonl",
            str(events),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env(tmp_path),
            cwd=tmp_path,  # the agent's workspace, where the gate is
        )
        talk = cls(proc, events)
        await talk.read_until(b"type a line and press enter")
        return talk

    async def read_until(self, needle: bytes, timeout: float = WAIT_S) -> None:  # noqa: ASYNC109
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while needle not in self.out:
                chunk = await self.proc.stdout.read(4096)
                assert chunk, f"talk exited before {needle!r}: {self.out.decode()}"
                self.out += chunk

    async def type(self, line: str) -> float:
        """Type ``line``; returns ``time.monotonic()`` just before it was written (so a
        latency measured from it is never too small)."""
        assert self.proc.stdin is not None
        typed_at = time.monotonic()
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        return typed_at

    async def finish(self) -> Run:
        """Ctrl-D: wait for the run to end (it waits for what is still being answered)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        async with asyncio.timeout(WAIT_S):
            rest, err = await self.proc.communicate()
        assert self.proc.returncode is not None
        return Run(self.proc.returncode, (self.out + rest).decode(), err.decode())

    def wire(self) -> list[dict[str, Any]]:
        """The events JSONL so far (whole lines only)."""
        text = self.events.read_text() if self.events.exists() else ""
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    async def wait_wire(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = WAIT_S,  # noqa: ASYNC109
    ) -> tuple[dict[str, Any], float]:
        """The first JSONL line matching ``predicate``, and ``time.monotonic()`` when seen.

        The file has no change notification in the standard library, so it is read
        every 5 ms; the time seen is at most that (and the scheduler) late.
        """
        async with asyncio.timeout(timeout):
            while True:
                for line in self.wire():
                    if predicate(line):
                        return line, time.monotonic()
                await asyncio.sleep(0.005)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "gate"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # release a command still blocked on it
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def open_gate(gate: Path) -> IO[str]:
    """Returns once the agent's `cat gate` runs (it opened the FIFO for reading)."""
    async with asyncio.timeout(WAIT_S):
        return await asyncio.to_thread(gate.open, "w")


def _handoff_call(line: dict[str, Any]) -> bool:
    event = line["event"]
    item = event.get("item") if isinstance(event, dict) else None
    return (
        line["dir"] == "in"
        and event.get("type") == "conversation.item.done"
        and isinstance(item, dict)
        and item.get("name") == "background_agent"
    )


def _backend_item(line: dict[str, Any]) -> bool:
    event = line["event"]
    item = event.get("item") if isinstance(event, dict) else None
    return (
        isinstance(item, dict)
        and item.get("type") == "message"
        and str(item.get("content")).startswith("[{'type': 'input_text', 'text': '[BACKEND] ")
    )


def _user_text(text: str) -> Callable[[dict[str, Any]], bool]:
    def match(line: dict[str, Any]) -> bool:
        event = line["event"]
        item = event.get("item") if isinstance(event, dict) else None
        return (
            line["dir"] == "out"
            and isinstance(item, dict)
            and item.get("content") == [{"type": "input_text", "text": f"[USER] {text}"}]
        )

    return match


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_typed_input_during_a_delegation_goes_out_at_once_and_is_answered(
    tmp_path: Path, gate: Path, transport: str
) -> None:
    talk = await Talk.start(tmp_path, "--transport", transport, "--timeout", "20")
    try:
        await talk.type("agent, run `cat gate`")
        handoff, seen = await talk.wait_wire(_handoff_call)
        # The JSONL's clock ("t", ms since the log opened) against ours: an upper bound
        # of the offset, since the line was seen at most one read interval late.
        offset = seen - handoff["t"] / 1000
        writer = await open_gate(gate)  # the agent's command is running now
        typed_at = await talk.type("how is it going?")
        sent, _ = await talk.wait_wire(_user_text("how is it going?"))
        latency_ms = (sent["t"] / 1000 + offset - typed_at) * 1000
        print(f"typed line on the wire {latency_ms:.1f} ms after it was typed ({transport})")
        assert latency_ms < TYPED_LATENCY_LIMIT_MS
        # The model answers it while the agent still works ...
        await talk.read_until(b"You said: how is it going? The agent is still working on it.")
        assert not [line for line in talk.wire() if _backend_item(line)]  # nothing back yet
        # ... and the delegation's result still arrives.
        writer.write("all 7 tests passed\n")
        writer.close()
        run = await talk.finish()
    finally:
        await talk.kill()
    assert run.returncode == 0, run.stderr
    assert "The agent says:" in run.stdout and "all 7 tests passed" in run.stdout
    assert run.stdout.index("The agent is still working") < run.stdout.index("The agent says:")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("/cancel", "The background task was cancelled."),  # the key (plain line mode)
        ("cancel that", "The background agent task was cancelled."),  # the model's tool
    ],
    ids=["slash-cancel", "said-cancel-that"],
)
async def test_cancelling_the_delegation_kills_the_command_and_the_model_says_so(
    tmp_path: Path, gate: Path, typed: str, said: str
) -> None:
    talk = await Talk.start(tmp_path, "--transport", "websocket", "--timeout", "20")
    try:
        await talk.type("agent, run `cat gate`")
        writer = await open_gate(gate)
        await talk.type(typed)
        await talk.read_until(said.encode())
        await talk.read_until(b"agent cancelled>")  # the agent reported its task stopped
        with pytest.raises(BrokenPipeError):  # nobody reads the gate: the command is gone
            writer.write("late\n")
            writer.flush()
        with contextlib.suppress(BrokenPipeError):
            writer.close()
        await talk.type("hello again")  # the conversation goes on
        await talk.read_until(b"You said: hello again")
        run = await talk.finish()
    finally:
        await talk.kill()
    assert run.returncode == 0, run.stderr
    outputs = [
        line["event"]["item"]["output"]
        for line in talk.wire()
        if line["dir"] == "out"
        and line["event"].get("type") == "conversation.item.create"
        and line["event"]["item"].get("type") == "function_call_output"
    ]
    assert outputs[0].startswith("Cancelled:")  # the background_agent call, answered


async def test_slash_cancel_through_the_app_server(tmp_path: Path, gate: Path) -> None:
    talk = await Talk.start(tmp_path, "--app-server", "stdio", "--timeout", "20")
    try:
        await talk.type("agent, run `cat gate`")
        writer = await open_gate(gate)
        await talk.type("/cancel")  # thread/realtime/cancelHandoff
        await talk.read_until(b"The background task was cancelled.")
        with pytest.raises(BrokenPipeError):
            writer.write("late\n")
            writer.flush()
        with contextlib.suppress(BrokenPipeError):
            writer.close()
        run = await talk.finish()
    finally:
        await talk.kill()
    assert run.returncode == 0, run.stderr
    assert "cancelling the agent's task" in run.stdout


async def test_slash_cancel_with_nothing_running_says_so(tmp_path: Path) -> None:
    talk = await Talk.start(tmp_path, "--transport", "websocket")
    try:
        await talk.type("/cancel")
        await talk.read_until(b"no agent task is running")
        run = await talk.finish()
    finally:
        await talk.kill()
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("extra", [(), ("--app-server", "stdio")], ids=["local", "app-server"])
async def test_a_long_agent_task_outlives_a_short_idle_limit(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    # The check: --timeout is an idle limit, the agent's own limit governs it.
    run = await run_talk(
        tmp_path, *extra, "--timeout", "5", "--text", "agent, run `sleep 12`", timeout_s=120
    )
    assert run.returncode == 0, run.stderr
    assert "The agent says: I ran `sleep 12`" in run.stdout

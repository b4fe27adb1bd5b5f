"""``realtalk talk`` asks the person before the agent leaves its sandbox (offline, real bwrap).

The person types a request for a command that needs the network; the scripted agent
asks to run it outside the sandbox; the realtime model says the question; the
person's typed "yes" (or "no") reaches the model like any text, and the model answers
with ``answer_approval``. The command connects to a loopback TCP listener this test
opens: inside the sandbox (its own network namespace) the connection fails, so it
succeeding proves the command ran outside the sandbox. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.cli._run import clean_env, run_talk

PROMPT = b"type a line and press enter"
QUESTION = b"May I run `python3 -c"
REACHED = "reached-the-loopback-listener"


@asynccontextmanager
async def _listener() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A loopback TCP listener; the event is set when something connects to it."""
    connected = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, connected
    finally:
        server.close()
        await server.wait_closed()


class _Talk:
    """``realtalk talk`` on the embedded emulator, driven through stdin."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen = b""

    async def wait_for(self, text: bytes, timeout: float = 60) -> None:  # noqa: ASYNC109
        stdout = self.proc.stdout
        assert stdout is not None
        async with asyncio.timeout(timeout):
            while text not in self.seen:
                chunk = await stdout.read(4096)
                assert chunk, f"talk exited before {text!r}: {self.seen.decode()}"
                self.seen += chunk

    async def type(self, line: str) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(line.encode() + b"\n")
        await stdin.drain()

    async def finish(self) -> tuple[int, str]:
        """Quit (end of input) once the answer is in; the exit code and all of stdout."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        async with asyncio.timeout(60):
            out, err = await self.proc.communicate()
        self.seen += out
        assert b"Traceback" not in err, err.decode()
        assert self.proc.returncode is not None
        return self.proc.returncode, self.seen.decode()


@asynccontextmanager
async def _talk(tmp_path: Path) -> AsyncIterator[_Talk]:
    workspace = tmp_path / "work"
    workspace.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk",
        "talk",
        "--transport",
        "websocket",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path),
        cwd=workspace,
    )
    try:
        talk = _Talk(proc)
        await talk.wait_for(PROMPT)
        yield talk
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _request(port: int) -> str:
    code = (
        f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5).close(); "
        f"print('{REACHED}')"
    )
    return f'agent, run `python3 -c "{code}"`. It needs the network.'


async def test_a_yes_runs_the_command_outside_the_sandbox(tmp_path: Path) -> None:
    async with _listener() as (port, connected), _talk(tmp_path) as talk:
        await talk.type(_request(port))
        await talk.wait_for(QUESTION)  # the model says the agent's question
        assert b"It needs the network." in talk.seen
        assert not connected.is_set()  # nothing ran before the answer
        await talk.type("yes please")
        await talk.wait_for(f"It printed: {REACHED}".encode(), timeout=90)  # the result
        code, out = await talk.finish()
        assert code == 0, out
        assert connected.is_set()  # it really ran outside the sandbox's network namespace
        assert "Approved: the background agent goes ahead." in out


async def test_a_no_refuses_the_command_and_the_agent_is_told(tmp_path: Path) -> None:
    async with _listener() as (port, connected), _talk(tmp_path) as talk:
        await talk.type(_request(port))
        await talk.wait_for(QUESTION)
        await talk.type("no")
        await talk.wait_for(b"declined: the user did not approve running", timeout=90)
        code, out = await talk.finish()
        assert code == 0, out
        assert not connected.is_set()
        assert f"It printed: {REACHED}" not in out
        assert "Declined: the background agent will not do it." in out


async def test_a_scripted_run_declines_at_once_as_nobody_can_answer(tmp_path: Path) -> None:
    async with _listener() as (port, connected):
        run = await run_talk(
            tmp_path, "--transport", "websocket", "--text", _request(port), timeout_s=60
        )
    assert run.returncode == 0, run.stderr
    assert "declined: the user did not approve running" in run.stdout
    assert "May I run" not in run.stdout  # never asked: nobody could answer
    assert not connected.is_set()

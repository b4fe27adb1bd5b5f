"""Done-when of issue 11 item 3, through the CLI: sessions end every 5 s, the talk goes on.

``realtalk emulator --max-session-s 5`` ends each realtime session as the real API does at
its cap (session_expired, close 1001). A ``realtalk talk`` of about 15 seconds with three
typed questions keeps going across the sessions: each reconnect prints one line, the
question after a reconnect is answered from the history the new session was given, and
the exit code is 0.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from tests.cli._run import clean_env

_TIMEOUT_S = 60.0
_RECONNECTED = "reconnected, history restored"


class _Talk:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out = ""

    async def until(self, needle: str, count: int = 1) -> None:
        """Read stdout until ``needle`` was printed ``count`` times."""
        assert self.proc.stdout is not None
        while self.out.count(needle) < count:
            chunk = await self.proc.stdout.read(4096)
            assert chunk, f"talk exited before printing {needle!r}:\n{self.out}"
            self.out += chunk.decode()

    async def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()


async def _emulator(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk",
        "emulator",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(_TIMEOUT_S):
        ready = (await proc.stdout.readline()).decode().split()
    assert ready[:1] == ["READY"], ready
    return proc, ready[1]


async def test_a_15_second_talk_keeps_going_across_5_second_sessions(tmp_path: Path) -> None:
    emulator, base_url = await _emulator("--max-session-s", "5", "--fast-audio")
    talk_proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk",
        "talk",
        "--base-url",
        base_url,
        "--transport",
        "websocket",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path, {"OPENAI_API_KEY": "sk-test-key", "REALTALK_STARTUP_CONTEXT": ""}),
    )
    talk = _Talk(talk_proc)
    try:
        async with asyncio.timeout(_TIMEOUT_S):
            await talk.until("type a line and press enter")
            loop = asyncio.get_running_loop()
            began = loop.time()
            await talk.say("my name is Ada")
            await talk.until("You said: my name is Ada")
            await talk.until(_RECONNECTED, 1)  # the first session hit its 5 s cap
            await talk.say("the sky is blue")
            await talk.until("You said: the sky is blue")
            await talk.until(_RECONNECTED, 2)
            await talk.say("what did I say before?")
            # The third session knows what was said in the first two.
            await talk.until('Before this you said: "my name is Ada"; "the sky is blue".')
            await talk.until(_RECONNECTED, 3)
            lasted = loop.time() - began
            await talk.say("")  # an empty line quits
            out, err = await talk_proc.communicate()
            talk.out += out.decode()
    finally:
        for proc in (talk_proc, emulator):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert talk_proc.returncode == 0, err.decode()
    assert lasted >= 14.0
    lines = [line for line in talk.out.splitlines() if _RECONNECTED in line]
    assert len(lines) == 3
    assert all("session time limit" in line for line in lines)
    assert "error" not in talk.out.lower()
    reconnect_ms = [float(m) for m in re.findall(r"; (\d+) ms\)", "\n".join(lines))]
    assert len(reconnect_ms) == 3 and all(ms < 5_000 for ms in reconnect_ms)
    print(f"reconnect (loss -> new session.update) ms: {reconnect_ms}")  # noqa: T201

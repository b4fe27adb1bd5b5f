"""``realtalk talk`` as a person sees it: a real terminal (tmux), offline, read off the screen.

The done-when check of the console: during a delegation of a slow command the agent
panel shows the running command and an elapsed time, and the screen has no duplicated
lines and no ``<realtime_delegation>`` markup. tmux is a system package the Makefile
installs; each test runs its own tmux server (``-L``), so nothing else is touched.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from tests.cli._run import clean_env

WAIT_S = 40.0
TMUX = shutil.which("tmux")


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    async def tmux(self, *args: str) -> str:
        assert TMUX is not None, "tmux is not installed: run `make sysdeps`"
        proc = await asyncio.create_subprocess_exec(
            TMUX, "-L", self.socket, *args, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return out.decode()

    async def screen(self) -> list[str]:
        return (await self.tmux("capture-pane", "-p", "-t", "talk")).splitlines()

    async def until(self, what: str, check: Callable[[list[str]], bool]) -> list[str]:
        """The screen once ``check`` holds for it (bounded poll)."""
        lines: list[str] = []
        try:
            async with asyncio.timeout(WAIT_S):
                # The screen lives in tmux, another process: there is no event to await,
                # so it is read again until it shows what is expected (bounded above).
                while not check(lines := await self.screen()):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"{what} not on screen:\n" + "\n".join(lines)) from None
        return lines


@asynccontextmanager
async def talk_in_tmux(tmp_path: Path, *args: str) -> AsyncIterator[Terminal]:
    term = Terminal(f"realtalk-test-{os.getpid()}-{id(tmp_path)}")
    env = clean_env(tmp_path, {"TERM": "xterm-256color"})
    # `sh -c` writes the pid of the process it becomes (realtalk) for signal tests.
    launcher = ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(tmp_path / "talk.pid")]
    command = shlex.join([*launcher, sys.executable, "-m", "realtalk", "talk", *args])
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    shell = f"cd {shlex.quote(str(tmp_path))} && env -i {exports} {command}; echo EXIT=$?; sleep 60"
    await term.tmux("new-session", "-d", "-s", "talk", "-x", "120", "-y", "34", shell)
    try:
        yield term
    finally:
        await term.tmux("kill-server")


def _content(lines: list[str]) -> list[str]:
    """Screen lines that carry text (not blank, not box drawing or the input's frame)."""
    return [
        line.strip()
        for line in lines
        if line.strip() and not re.fullmatch(r"[\s▊▎▔▁╭╮╰╯─│]*", line)
    ]


async def test_the_agent_panel_shows_the_running_command_and_its_elapsed_time(
    tmp_path: Path,
) -> None:
    async with talk_in_tmux(tmp_path, "--transport", "websocket") as term:
        await term.until("the connected status", lambda s: any("connected" in x for x in s))
        await term.tmux("send-keys", "-t", "talk", "-l", "agent, run `sleep 3`")
        await term.tmux("send-keys", "-t", "talk", "Enter")
        running = re.compile(r"\$ sleep 3  running (\d+\.\d)s")
        screen = await term.until(
            "the running command", lambda s: any(running.search(x) for x in s)
        )
        assert any(
            re.search(r"agent working \d+\.\ds  task: agent, run `sleep 3`", x) for x in screen
        )
        # The elapsed time moves on while it runs.
        first = next(float(m.group(1)) for x in screen if (m := running.search(x)))
        await term.until(
            "a later elapsed time",
            lambda s: any((m := running.search(x)) and float(m.group(1)) > first for x in s),
        )
        done = await term.until(
            "the spoken answer",
            lambda s: any("assistant › The agent says: I ran `sleep 3`" in x for x in s),
        )
        for shown in (screen, done):
            text = _content(shown)
            assert len(text) == len(set(text)), "\n".join(shown)  # no line twice
            joined = "\n".join(shown)
            for markup in ("<realtime_delegation>", "<input>", "transcript_delta", "&lt;"):
                assert markup not in joined, joined
        assert sum("you › agent, run `sleep 3`" in x for x in done) == 1
        assert any("agent finished in" in x for x in done)
        await term.tmux("send-keys", "-t", "talk", "C-c")
        await term.until("a clean exit", lambda s: any(x.startswith("EXIT=0") for x in s))


async def test_no_console_prints_each_typed_line_once(tmp_path: Path) -> None:
    """The line mode on a terminal: the terminal's echo is the only copy of a typed line."""
    async with talk_in_tmux(tmp_path, "--transport", "websocket", "--no-console") as term:
        await term.until("the prompt", lambda s: any("type a line" in x for x in s))
        await term.tmux("send-keys", "-t", "talk", "-l", "agent, run `echo hi`")
        await term.tmux("send-keys", "-t", "talk", "Enter")
        done = await term.until(
            "the answer", lambda s: any(x.startswith("assistant> The agent says:") for x in s)
        )
        assert sum("agent, run `echo hi`" in x for x in done) == 2, done  # typed, handoff>
        assert "handoff> agent, run `echo hi`" in done
        assert not any("<realtime_delegation>" in x or "you> " in x for x in done)
        await term.tmux("send-keys", "-t", "talk", "Enter")  # an empty line quits
        await term.until("a clean exit", lambda s: any(x.startswith("EXIT=0") for x in s))


async def test_sigterm_closes_the_console_and_exits_143(tmp_path: Path) -> None:
    """A closed terminal or a kill: the conversation closes, the terminal is given back."""
    async with talk_in_tmux(tmp_path, "--transport", "websocket") as term:
        await term.until("the connected status", lambda s: any("connected" in x for x in s))
        pid = int((tmp_path / "talk.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        screen = await term.until("the exit", lambda s: any(x.startswith("EXIT=") for x in s))
        assert "EXIT=143" in screen
        assert not any("agent:" in x or "connected" in x for x in screen)  # screen restored

"""What the ``talk`` console shows, as plain state and rich renderables (no terminal I/O).

The console (:mod:`._console`) feeds conversation and agent events in here and draws
what comes out; keeping the state apart makes every line testable without a terminal:

* :class:`AgentPanel` - the delegated task (one line), the command running now with
  the tail of its output, patches applied, elapsed time and a spinner while it works;
* :class:`StatusLine` - transport, protocol version, session, connection state,
  reconnects, and with ``--mic`` the input level and who is speaking.
"""

from __future__ import annotations

import math
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from rich.text import Text

from realtalk.agent import (
    AgentEvent,
    ApprovalRequested,
    ApprovalResolved,
    CommandFinished,
    CommandOutput,
    CommandStarted,
    PatchApplied,
    TaskComplete,
    TaskFailed,
)
from realtalk.cli._render import safe_text

__all__ = ["SPINNER", "AgentPanel", "StatusLine", "elapsed", "level_dbfs", "one_line"]

SPINNER: Final = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
OUTPUT_LINES: Final = 4
"""Lines of the running command's output the panel shows."""
PATCHES_SHOWN: Final = 4
METER_WIDTH: Final = 10
FLOOR_DB: Final = -60.0

Clock = Callable[[], float]


def one_line(text: str, width: int = 100) -> str:
    """``text`` on one line (whitespace folded, control characters escaped), cut to ``width``."""
    flat = safe_text(" ".join(text.split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def elapsed(seconds: float) -> str:
    """``7.3s`` under a minute, then ``1:05``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def level_dbfs(pcm: bytes) -> float:
    """Peak level of a PCM16 block in dBFS (``FLOOR_DB`` for silence)."""
    samples = memoryview(pcm[: len(pcm) - len(pcm) % 2]).cast("h")
    peak = max(max(samples, default=0), -min(samples, default=0))
    if peak <= 0:
        return FLOOR_DB
    return max(FLOOR_DB, 20 * math.log10(peak / 32768))


@dataclass
class _Command:
    argv: list[str]
    started: float
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES))


@dataclass
class AgentPanel:
    """The background agent's work, from the delegation to its end."""

    clock: Clock = time.monotonic
    task: str | None = None
    started: float | None = None  # None: idle
    ended: float | None = None
    outcome: str = ""  # how the last task ended
    command: _Command | None = None
    last_command: str = ""  # the last finished command and its result
    commands: int = 0
    patches: list[str] = field(default_factory=list)
    question: tuple[str, str] | None = None  # (request id, question) waiting for an answer
    answered: str = ""  # the last question's answer ("approved: ..." / "declined: ...")

    @property
    def busy(self) -> bool:
        return self.started is not None and self.ended is None

    def delegated(self, text: str) -> None:
        """A delegation went to the agent: a new task, or steering of the running one."""
        if self.busy:
            self.task = f"{self.task} / {text}"  # steering joins the task line
            return
        self.task, self.started, self.ended, self.outcome = text, self.clock(), None, ""
        self.command, self.last_command, self.commands = None, "", 0
        self.patches, self.question, self.answered = [], None, ""

    def event(self, event: AgentEvent) -> None:
        """One event of the agent's stream (tools, and the task's end)."""
        if isinstance(event, CommandStarted):
            self.command = _Command(list(event.command), self.clock())
            self.commands += 1
        elif isinstance(event, CommandOutput):
            if self.command is not None:
                self.command.tail.extend(event.text.split("\n"))
        elif isinstance(event, CommandFinished):
            result = f"exit {event.exit_code}" if event.exit_code is not None else event.status
            self.last_command = f"{shlex.join(event.command)} ({result})"
            self.command = None
        elif isinstance(event, PatchApplied):
            changed = ", ".join(f"{c.kind} {c.path}" for c in event.changes) or "no files"
            self.patches.append(f"{changed} ({event.status})")
        elif isinstance(event, ApprovalRequested):
            self.question = (event.request.id, event.request.question)
        elif isinstance(event, ApprovalResolved):
            if self.question is not None and self.question[0] == event.request_id:
                verdict = "approved" if event.decision.approved else "declined"
                self.answered = f"{verdict}: {self.question[1]}"
                self.question = None
        elif isinstance(event, TaskComplete | TaskFailed):
            self.finished("done" if isinstance(event, TaskComplete) else event.message)

    def finished(self, outcome: str) -> None:
        if self.started is not None and self.ended is None:
            self.ended = self.clock()
        self.command = None
        self.question = None  # a question dies with its task
        self.outcome = outcome

    def render(self) -> Text:
        """The panel's lines (the spinner turns with the clock)."""
        now = self.clock()
        if self.task is None or self.started is None:
            return Text("agent: idle (say or type “agent, …” to hand it work)", style="dim")
        out = Text()
        if self.busy:
            frame = SPINNER[int(now * 10) % len(SPINNER)]
            out.append(f"{frame} agent working ", style="bold magenta")
            out.append(elapsed(now - self.started), style="bold")
        else:
            assert self.ended is not None
            out.append("✓ agent finished " if self.outcome == "done" else "✗ agent stopped ")
            out.append(f"in {elapsed(self.ended - self.started)}", style="bold")
            if self.outcome != "done":
                out.append(f": {one_line(self.outcome, 80)}", style="red")
        out.append(f"  task: {one_line(self.task, 90)}\n")
        if self.question is not None:
            out.append("  ? waiting for your answer: ", style="bold yellow")
            out.append(f"{one_line(self.question[1], 90)} (say or type yes or no)\n")
        elif self.answered:
            out.append(f"  answer: {one_line(self.answered, 90)}\n", style="dim")
        if self.command is not None:
            out.append("  $ ", style="bold green")
            out.append(one_line(shlex.join(self.command.argv), 80))
            out.append(f"  running {elapsed(now - self.command.started)}\n", style="yellow")
            for line in self.command.tail:
                out.append(f"    │ {one_line(line, 96)}\n", style="dim")
        elif self.last_command:
            out.append(f"  last: $ {one_line(self.last_command, 90)}\n", style="dim")
        if self.patches:
            shown = "; ".join(self.patches[-PATCHES_SHOWN:])
            out.append(f"  patches: {one_line(shown, 96)}\n", style="cyan")
        out.rstrip()
        out.no_wrap, out.overflow = True, "ellipsis"  # one screen line per line, cut to fit
        return out


@dataclass
class StatusLine:
    """The conversation's state, for the status bar."""

    transport: str
    version: str = ""
    session: str = ""
    connection: str = "connecting"
    reconnects: int = 0
    mic: bool = False
    level_db: float = FLOOR_DB
    speaking: str = "listening"  # with --mic: "listening", "you", "assistant"
    push_to_talk: bool = False
    talking: bool = False  # push-to-talk: the key is on

    def render(self) -> Text:
        out = Text()
        state_style = "green" if self.connection == "connected" else "yellow"
        out.append(f"{self.transport}", style="bold")
        if self.version:
            out.append(f" {self.version}")
        if self.session:
            out.append(f" · session {one_line(self.session, 32)}")
        out.append(" · ")
        out.append(self.connection, style=state_style)
        if self.reconnects:
            out.append(f" · reconnects {self.reconnects}")
        if self.mic:
            filled = round((self.level_db - FLOOR_DB) / -FLOOR_DB * METER_WIDTH)
            meter = "█" * filled + "░" * (METER_WIDTH - filled)
            out.append(" · mic ")
            out.append(meter, style="green" if filled < METER_WIDTH else "red")
            who = {"you": "you are speaking", "assistant": "assistant speaking"}
            if self.push_to_talk and self.talking:
                out.append(" ● talking (Ctrl-T sends)", style="bold red")
            elif self.push_to_talk:
                out.append(" push-to-talk: Ctrl-T to talk")
            else:
                out.append(f" {who.get(self.speaking, 'listening')}")
        return out

"""What the console's agent panel and status line say (pure state, a fake clock)."""

from __future__ import annotations

import struct

from realtalk.agent import (
    CommandFinished,
    CommandOutput,
    CommandStarted,
    FileChange,
    PatchApplied,
    TaskComplete,
    TaskFailed,
)
from realtalk.cli._console_view import (
    FLOOR_DB,
    OUTPUT_LINES,
    AgentPanel,
    StatusLine,
    elapsed,
    level_dbfs,
    one_line,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_idle_then_a_task_with_a_running_command_and_its_tail() -> None:
    clock = Clock()
    panel = AgentPanel(clock=clock)
    assert "idle" in panel.render().plain and not panel.busy
    panel.delegated("run the tests\nplease")
    clock.now += 1.0
    panel.event(CommandStarted("c1", ["pytest", "-q"], "/w", "workspace-write"))
    panel.event(CommandOutput("c1", "\n".join(f"line {n}" for n in range(10))))
    clock.now += 2.5
    lines = panel.render().plain.split("\n")
    assert lines[0].endswith("agent working 3.5s  task: run the tests please")
    assert lines[1] == "  $ pytest -q  running 2.5s"
    assert [line.strip() for line in lines[2:]] == [
        f"│ line {n}" for n in range(10 - OUTPUT_LINES, 10)
    ]


def test_finished_task_keeps_the_last_command_and_patches() -> None:
    clock = Clock()
    panel = AgentPanel(clock=clock)
    panel.delegated("fix it")
    panel.event(CommandStarted("c1", ["ls", "a b"], "/w", "none"))
    panel.event(CommandFinished("c1", ["ls", "a b"], 2, "", "failed"))
    panel.event(PatchApplied("p1", [FileChange("x.py", "update")], "completed", "ok"))
    panel.delegated("and the docs")  # steering joins the running task
    clock.now += 61
    panel.event(TaskComplete())
    assert panel.render().plain.split("\n") == [
        "✓ agent finished in 1:01  task: fix it / and the docs",
        "  last: $ ls 'a b' (exit 2)",
        "  patches: update x.py (completed)",
    ]
    panel.delegated("again")  # a new task starts afresh
    assert "patches" not in panel.render().plain and panel.busy


def test_a_failed_task_says_why() -> None:
    panel = AgentPanel(clock=Clock())
    panel.delegated("x")
    panel.event(TaskFailed("The background agent's task was interrupted."))
    first = panel.render().plain.split("\n")[0]
    assert first.startswith("✗ agent stopped in 0.0s: The background agent's task was")


def test_status_line_and_mic_meter() -> None:
    status = StatusLine(transport="webrtc", version="v2", session="sess_1", connection="connected")
    assert status.render().plain == "webrtc v2 · session sess_1 · connected"
    status.reconnects, status.mic, status.level_db, status.speaking = 2, True, -30.0, "you"
    assert status.render().plain == (
        "webrtc v2 · session sess_1 · connected · reconnects 2 · mic █████░░░░░ you are speaking"
    )


def test_levels_and_helpers() -> None:
    assert level_dbfs(bytes(960)) == FLOOR_DB
    full = struct.pack("<2h", 32767, -32768)
    assert level_dbfs(full) == 0.0
    assert round(level_dbfs(struct.pack("<h", 328))) == -40
    assert elapsed(3.04) == "3.0s" and elapsed(125) == "2:05"
    assert one_line("a\n b\x1b[31m", 100) == "a b\\x1b[31m"
    assert one_line("x" * 50, 10) == "x" * 9 + "…"

"""What `talk` prints of text from the model or the agent: what a terminal would show."""

from __future__ import annotations

import io

from rich.console import Console

from realtalk.cli._render import Renderer
from realtalk.conversation import AgentActivity

CURL = (
    "I ran `curl -O http://127.0.0.1:9/x`. It printed:"
    "  % Total    % Received\r\n"
    "\r  0     0    0     0\r 50   100   50    50\r100   100  100   100\r\n"
    "done\r"
)


def _printed(event: AgentActivity) -> str:
    out = io.StringIO()
    Renderer(Console(file=out, width=200, highlight=False)).show(event)
    return out.getvalue()


def test_a_progress_meter_shows_its_last_state_not_escaped_carriage_returns() -> None:
    printed = _printed(AgentActivity("message", CURL))
    assert printed.splitlines() == [
        "agent> I ran `curl -O http://127.0.0.1:9/x`. It printed:  % Total    % Received",
        "100   100  100   100",
        "done",
    ]
    assert "\\x0d" not in printed and "\r" not in printed


def test_other_control_characters_are_still_escaped() -> None:
    printed = _printed(AgentActivity("message", "red \x1b[31mtext\x07\r\nnext"))
    assert printed.splitlines() == ["agent> red \\x1b[31mtext\\x07", "next"]

"""Terminal rendering of conversation events (rich), safe against control characters."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

from realtalk.conversation import (
    AgentActivity,
    Closed,
    ConversationEvent,
    Realtime,
    Reconnected,
    Reconnecting,
    Started,
)
from realtalk.protocol import (
    ErrorEvent,
    HandoffRequested,
    InputTranscriptDone,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    delegation_input,
)

__all__ = ["Renderer", "reconnected_line", "safe_text"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(text: str) -> str:
    """Escape control characters from the server before they reach a terminal.

    A carriage return shows what a terminal would have shown: the text after it, on its
    line (a command's progress meter, such as curl's, keeps only its last state), and a
    CR before a line end or at the end is dropped.
    """
    if "\r" in text:
        text = "\n".join(line.rstrip("\r").rpartition("\r")[2] for line in text.split("\n"))
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def reconnected_line(event: Reconnected) -> str:
    """The one line a person sees when a new session continues the conversation."""
    why = {"session_expired": "session time limit", "rotation": "session renewed"}.get(
        event.cause, "connection lost"
    )
    folded = f", {event.folded_items} older condensed" if event.folded_items else ""
    return (
        f"reconnected, history restored ({why}; {event.restored_items} messages"
        f"{folded}; {event.elapsed_ms:.0f} ms)"
    )


class Renderer:
    """Prints the conversation as it streams: user and assistant turns, handoffs."""

    def __init__(
        self, console: Console | None = None, *, verbose: bool = False, echoed: bool = False
    ) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._verbose = verbose
        self._echoed = echoed  # typed lines are already on screen (a terminal's echo)
        self._streaming = False

    def _end_stream(self) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False

    def info(self, message: str) -> None:
        self._end_stream()
        self.console.print(Text(safe_text(message), style="dim"))

    def error(self, message: str) -> None:
        self._end_stream()
        self.console.print(Text(safe_text(message), style="bold red"))

    def user(self, text: str) -> None:
        self._end_stream()
        if self._echoed:
            return  # the terminal echoed the line as it was typed: once is enough
        self.console.print(Text("you> ", style="bold cyan") + Text(safe_text(text)))

    def data_channel(self, event: dict[str, Any]) -> None:
        """A WebRTC data-channel event (shown in verbose mode: the sideband has the same)."""
        if self._verbose:
            self.info(f"data channel: {event.get('type', '?')}")

    def show(self, event: ConversationEvent) -> None:
        if isinstance(event, Started):
            self.info(
                f"connected (realtime {event.version.value}, session {event.realtime_session_id})"
            )
        elif isinstance(event, Closed):
            self.info(f"conversation closed ({event.reason})")
        elif isinstance(event, Reconnected):
            self.info(reconnected_line(event))
        elif isinstance(event, Reconnecting) and self._verbose:
            self.info(f"realtime session ended ({event.cause}: {event.detail}); reconnecting")
        elif isinstance(event, AgentActivity):
            self._agent(event)
        elif isinstance(event, Realtime):
            self._realtime(event)

    def _agent(self, event: AgentActivity) -> None:
        if event.kind == "complete" and not self._verbose:
            return  # nothing to print: do not break the assistant's line
        self._end_stream()
        if event.kind == "submitted":
            self.console.print(
                Text("handoff> ", style="bold magenta")
                + Text(safe_text(delegation_input(event.text)))
            )
        elif event.kind == "message":
            self.console.print(Text("agent> ", style="bold green") + Text(safe_text(event.text)))
        elif event.kind == "failed":
            self.console.print(
                Text("agent failed> ", style="bold red") + Text(safe_text(event.text))
            )
        elif event.kind == "cancelled":
            self.console.print(
                Text("agent cancelled> ", style="bold magenta") + Text(safe_text(event.text))
            )
        elif self._verbose:
            self.info("agent task complete")

    def _realtime(self, event: Realtime) -> None:
        payload = event.payload
        if isinstance(payload, OutputTranscriptDelta):
            if not self._streaming:
                self.console.print(Text("assistant> ", style="bold yellow"), end="")
                self._streaming = True
            self.console.print(Text(safe_text(payload.delta)), end="")
        elif isinstance(payload, OutputTranscriptDone):
            if not self._streaming and payload.text:
                self.console.print(
                    Text("assistant> ", style="bold yellow") + Text(safe_text(payload.text))
                )
            self._end_stream()
        elif isinstance(payload, InputTranscriptDone):
            self._end_stream()
            self.console.print(Text("you (voice)> ", style="cyan") + Text(safe_text(payload.text)))
        elif isinstance(payload, HandoffRequested):
            if self._verbose:
                self.info(f"background_agent call {payload.handoff_id}")
        elif isinstance(payload, ErrorEvent):
            self.error(f"error: {payload.message}")

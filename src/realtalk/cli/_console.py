"""``realtalk talk`` as a live console: transcript, agent panel, status, an input line.

Library: **textual** (on top of rich, which the line mode already uses), chosen over
prompt_toolkit + rich because

* it runs *in* our asyncio loop (``App.run_async``): conversation events update the
  screen from the same loop, no threads, no ``patch_stdout`` interleaving, so a line
  cannot appear twice or be torn by the prompt;
* the layout we need (a scrolling transcript, a live panel, a status bar, an input
  that stays usable, key bindings shown in a footer) is a few widgets and a little
  CSS, where prompt_toolkit needs a hand-built ``Application`` layout and rich
  renderables converted to its formatted text;
* it has a headless test pilot (``App.run_test``) that presses keys and drives the
  real app, and rich renderables (our :mod:`._console_view`) draw as they are.

Cost: ~0.2 s to import, paid only when the console runs (``realtalk --help`` and the
line mode never import it). Terminals do not report key releases, so push-to-talk
would be a toggle, not a hold.

The screen (top to bottom): the transcript (``you``, ``assistant``, ``→ agent`` for a
delegation - the person's words, never the ``<realtime_delegation>`` markup - and
``agent`` messages), the agent panel (:class:`AgentPanel`), the status line
(:class:`StatusLine`), the input line and the key bindings. The conversation itself is
a :class:`ConsoleConversation` (:mod:`._console_run` runs the local one).
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any, ClassVar, Protocol

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Input, Static

from realtalk._errors import RealtalkError
from realtalk.agent import AgentEvent
from realtalk.cli._console_view import AgentPanel, StatusLine, one_line
from realtalk.cli._render import Renderer, safe_text
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
    AudioOut,
    ErrorEvent,
    InputAudioSpeechStarted,
    InputTranscriptDone,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    ResponseDone,
    TurnDone,
    delegation_input,
)

__all__ = ["ConsoleConversation", "ConsoleRenderer", "TalkConsole"]

logger = logging.getLogger(__name__)

TRANSCRIPT_LINES = 500
"""Transcript entries kept on screen (older ones scroll away for good)."""

_STYLES = {
    "you": ("you › ", "bold cyan"),
    "voice": ("you (voice) › ", "cyan"),
    "assistant": ("assistant › ", "bold yellow"),
    "delegation": ("→ agent: ", "bold magenta"),
    "agent": ("agent › ", "bold green"),
    "failed": ("agent failed › ", "bold red"),
    "info": ("", "dim"),
    "error": ("", "bold red"),
}


class ConsoleConversation(Protocol):
    """What the console drives: one conversation, run until ``stop`` is set or it ends."""

    async def run(self, ui: TalkConsole, stop: asyncio.Event) -> None:
        """Open, start and run the conversation; close it before returning.

        Raises:
            RealtalkError: it could not start, or it ended with an error.
        """
        ...

    async def send_line(self, text: str) -> None: ...

    async def interrupt(self) -> bool:
        """Stop the assistant (False: nothing to stop)."""
        ...

    async def cancel_agent(self) -> bool:
        """Cancel the running delegation (False: none)."""
        ...

    async def push_to_talk(self, *, talking: bool) -> bool:
        """Start (``talking``) or end a push-to-talk turn (False: nothing sent)."""
        ...


class ConsoleRenderer(Renderer):
    """The runtime's renderer, drawing into the console instead of printing."""

    def __init__(self, ui: TalkConsole) -> None:
        super().__init__(Console(file=io.StringIO()))  # the base class's console is unused
        self.ui = ui

    def info(self, message: str) -> None:
        self.ui.add_line("info", message)

    def error(self, message: str) -> None:
        self.ui.add_line("error", message)

    def user(self, text: str) -> None:
        self.ui.add_line("you", text)

    def data_channel(self, event: dict[str, Any]) -> None:
        del event  # the sideband carries the same events

    def show(self, event: ConversationEvent) -> None:
        self.ui.conversation_event(event)


class TalkConsole(App[None]):
    """The console app (see the module docs)."""

    TITLE = "realtalk"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #transcript { height: 1fr; padding: 0 1; }
    #transcript > Static { margin: 0; }
    #agent {
        height: auto; max-height: 10; border: round $secondary; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    #status { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "quit", priority=True),
        Binding("ctrl+q", "quit", "quit", show=False, priority=True),
        Binding("escape", "interrupt", "interrupt the assistant", priority=True),
        Binding("ctrl+x", "cancel_agent", "cancel the agent", priority=True),
        Binding("ctrl+t", "push_to_talk", "talk / send", priority=True),
    ]

    def __init__(self, conversation: ConsoleConversation, status: StatusLine) -> None:
        super().__init__()
        self.conversation = conversation
        self.status = status
        self.panel = AgentPanel()
        self.failure: RealtalkError | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._assistant: Static | None = None  # the assistant line being streamed
        self._assistant_text = ""
        self._status_drawn: Text | None = None

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="transcript")
        yield Static(self.panel.render(), id="agent")
        yield Static(self.status.render(), id="status")
        yield Input(placeholder="type to the assistant; Enter sends", id="input")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#agent", Static).border_title = "agent"
        self.query_one(Input).focus()
        self.set_interval(0.1, self._tick)
        self._task = asyncio.ensure_future(self._converse())

    async def _converse(self) -> None:
        try:
            await self.conversation.run(self, self._stop)
        except RealtalkError as exc:
            self.failure = exc
        except Exception as exc:  # a bug: end the app with it rather than hang
            logger.exception("the console's conversation failed")
            self.failure = RealtalkError(f"the console failed: {exc}")
        finally:
            self.exit()

    async def finish(self) -> None:
        """Stop the conversation and wait until it closed (idempotent)."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    # -- keys --------------------------------------------------------------------------

    async def action_quit(self) -> None:
        self.add_line("info", "closing…")
        await self.finish()
        self.exit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "push_to_talk":
            return self.status.push_to_talk  # the key exists only in push-to-talk mode
        return True

    async def action_push_to_talk(self) -> None:
        talking = not self.status.talking
        try:
            sent = await self.conversation.push_to_talk(talking=talking)
        except RealtalkError as exc:
            self.add_line("error", f"push-to-talk failed: {exc}")
            return
        self.status.talking = talking
        if talking:
            self._end_assistant(" [interrupted]")
        elif not sent:
            self.notify("nothing was heard: nothing sent")
        self._draw_status()

    async def action_interrupt(self) -> None:
        try:
            stopped = await self.conversation.interrupt()
        except RealtalkError as exc:
            self.add_line("error", f"could not interrupt: {exc}")
            return
        self._end_assistant(" [interrupted]" if stopped else "")

    async def action_cancel_agent(self) -> None:
        if not self.panel.busy:
            self.notify("the agent is not working on anything")
            return
        try:
            cancelled = await self.conversation.cancel_agent()
        except RealtalkError as exc:
            self.add_line("error", f"could not cancel the agent: {exc}")
            return
        if not cancelled:
            self.notify("the agent has nothing to cancel")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.clear()
        if not text:
            return
        try:
            await self.conversation.send_line(text)
        except RealtalkError as exc:
            self.add_line("error", f"not sent: {exc}")

    # -- drawing -----------------------------------------------------------------------

    def add_line(self, role: str, text: str) -> None:
        """One transcript entry (after the assistant line being streamed, if any)."""
        self._end_assistant()
        self._append(role, text)

    def _append(self, role: str, text: str) -> Static:
        label, style = _STYLES[role]
        line = Text(label, style=style) + Text(safe_text(text), style="" if label else style)
        widget = Static(line)
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(widget)
        while len(transcript.children) > TRANSCRIPT_LINES:
            transcript.children[0].remove()
        transcript.scroll_end(animate=False)
        return widget

    def _assistant_delta(self, delta: str) -> None:
        if self._assistant is None:
            self._assistant = self._append("assistant", "")
            self._assistant_text = ""
        self._assistant_text += delta
        label, style = _STYLES["assistant"]
        self._assistant.update(Text(label, style=style) + Text(safe_text(self._assistant_text)))
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def _end_assistant(self, suffix: str = "") -> None:
        if self._assistant is not None and suffix:
            self._assistant_delta(suffix)
        self._assistant = None

    def agent_event(self, event: AgentEvent) -> None:
        """The agent's tools at work (the runtime's agent tap)."""
        self.panel.event(event)
        self._draw_panel()

    def conversation_event(self, event: ConversationEvent) -> None:
        status = self.status
        if isinstance(event, Started):
            status.connection, status.version = "connected", event.version.value
            status.session = event.realtime_session_id or ""
        elif isinstance(event, Closed):
            status.connection = f"closed ({event.reason})"
        elif isinstance(event, Reconnecting):
            status.connection = f"reconnecting ({event.cause})"
        elif isinstance(event, Reconnected):
            status.connection = "connected"
            status.reconnects += 1
        elif isinstance(event, AgentActivity):
            self._agent_activity(event)
        elif isinstance(event, Realtime):
            self._realtime(event)
        self._draw_status()

    def _agent_activity(self, event: AgentActivity) -> None:
        if event.kind == "submitted":
            words = delegation_input(event.text)
            self.panel.delegated(words)
            self.add_line("delegation", one_line(words, 400))
        elif event.kind == "message":
            self.add_line("agent", event.text)
        elif event.kind == "failed":
            self.panel.finished(event.text)
            self.add_line("failed", event.text)
        elif event.kind == "cancelled":
            self.panel.finished(f"cancelled ({event.text})")
        else:
            self.panel.finished("done")
        self._draw_panel()

    def _realtime(self, event: Realtime) -> None:
        payload = event.payload
        status = self.status
        if isinstance(payload, OutputTranscriptDelta):
            self._assistant_delta(payload.delta)
            status.speaking = "assistant"
        elif isinstance(payload, OutputTranscriptDone):
            if self._assistant is None and payload.text:
                self._append("assistant", payload.text)
            self._end_assistant()
        elif isinstance(payload, InputTranscriptDone):
            self.add_line("voice", payload.text)
        elif isinstance(payload, InputAudioSpeechStarted):
            self._end_assistant()
            status.speaking = "you"
        elif isinstance(payload, AudioOut):
            status.speaking = "assistant"
        elif isinstance(payload, ResponseDone | TurnDone):
            status.speaking = "listening"
        elif isinstance(payload, ErrorEvent):
            self.add_line("error", f"error: {payload.message}")

    def _draw_panel(self) -> None:
        self.query_one("#agent", Static).update(self.panel.render())

    def _draw_status(self) -> None:
        line = self.status.render()
        if line != self._status_drawn:  # most events (audio) change nothing here
            self._status_drawn = line
            self.query_one("#status", Static).update(line)

    def _tick(self) -> None:
        if self.panel.busy:
            self._draw_panel()  # the spinner and the elapsed time
        if self.status.mic:
            self._draw_status()  # the level meter

"""The conversation core: every protocol decision of one realtime conversation, no I/O.

Modelled on h11's ``Connection``. One :class:`ConversationCore` per conversation takes
what happens *as arguments* — server frames or events, the person's text and audio,
explicit response requests, the background agent's messages and completion, the
outcome of a send, and the time — and answers with two queues the I/O layer drains:

* :meth:`next_message` — client messages to send, in order (JSON objects);
* :meth:`next_output` — what to show: the normalised :class:`RealtimeEvent` s (plus
  :class:`TurnStarted` / :class:`TurnDone`), :class:`Delegate` requests (hand this
  text to the background agent, *before* showing the handoff event),
  :class:`CancelDelegation` (stop the agent's running task) and
  :class:`ApprovalAnswer` (give the agent the user's answer to its question).

Once :attr:`end_reason` is set the conversation is over: the I/O layer emits what is
left in the outputs, then ``Closed(end_reason)``, and closes the socket.

It decides (reference 1.5, 2.6, 4; reference-wire-facts 1-3; ``docs/architecture.md``
has the whole list): the v1/v2 differences, the ``response.create`` queue and v1's own
response lifecycle (:mod:`._answers`), the handoff cycle (:mod:`._handoff`), the
transcript (:mod:`._transcript`), barge-in truncation at the played position over
WebSocket (:mod:`._playback`; over WebRTC the server does it), the turn edges
(:class:`TurnStarted` / :class:`TurnDone`), and which errors are survived: the
active-response race, a refused truncate (known by the ``event_id`` we gave it) and a
frame nested too deep (:data:`FRAME_TOO_DEEP`, shown); any other server ``error``, a
binary frame, a read error or a failed send ends the conversation.

A *resumable* core (the I/O layer can open a new session) ends with ``session_lost``
instead, and shows nothing, when the session itself is what ended: the server closed
the socket, reading or sending failed, the server's ``session_expired``, or the age
limit (:meth:`schedule_rotation`: at the first turn boundary after it is due, or at its
deadline). :attr:`lost` says why; :meth:`snapshot` and a new core's :meth:`restore`
carry the conversation over (:mod:`._restore`). It keeps the history for that
(:mod:`._history`).

The person's text and audio are never held back, whatever the agent is doing: they go
out in the order given, and a response they ask for waits only for the active one.
Cancelling the running delegation (the model's ``cancel_background_agent`` call, or
:meth:`ConversationCore.cancel_delegation`) answers it at once and outputs
:class:`CancelDelegation` (see :mod:`._handoff`).

The agent's approval questions (:meth:`agent_question`) are put to the model, and the
model's ``answer_approval`` call (v1: a yes/no handoff request) comes back as
:class:`ApprovalAnswer`; the table and every edge (late answers, no question, a cancel
or a new session while one waits) are in :mod:`._questions`.

Where each decision lives: the class is composed of one part per side, all over one
:class:`CoreState` (:mod:`._core_state`: every attribute, the shared moves and the
ends): the server's events and which errors are survived (:mod:`._core_events`), the
person's input, push-to-talk and barge-in (:mod:`._core_input`), the handoff and its
cancel (:mod:`._core_delegation`), the end of a session and its continuation
(:mod:`._core_sessions`). This module holds the entry points and the outputs.

Hot path: an audio delta is one exact-type dict lookup, one tracker update and one
append to the outputs; no other allocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from realtalk.protocol._core_events import ServerEvents
from realtalk.protocol._core_sessions import SessionEnds
from realtalk.protocol._core_state import (
    ApprovalAnswer,
    CancelDelegation,
    Delegate,
    EndReason,
    Media,
    Output,
)
from realtalk.protocol._events import Mode, RealtimeEvent, Version
from realtalk.protocol._outbox import AUDIO_OUTBOX_LIMIT
from realtalk.protocol._playback import PlaybackClock
from realtalk.protocol._restore import ConversationSnapshot

__all__ = [
    "AUDIO_OUTBOX_LIMIT",
    "ApprovalAnswer",
    "CancelDelegation",
    "ConversationCore",
    "ConversationSnapshot",
    "Delegate",
    "EndReason",
    "Media",
    "Output",
]


class ConversationCore(ServerEvents, SessionEnds):
    """The protocol state of one conversation (see the module docstring)."""

    def __init__(
        self,
        version: Version,
        *,
        mode: Mode = Mode.CONVERSATIONAL,
        media: Media = Media.WEBSOCKET,
        playback: PlaybackClock | None = None,
        audio_limit: int = AUDIO_OUTBOX_LIMIT,
        resumable: bool = False,
    ) -> None:
        """``resumable``: the I/O layer continues the conversation on a new session when
        this one ends (see the module docstring); else such an end is final."""
        super().__init__(
            version,
            mode=mode,
            media=media,
            playback=playback,
            audio_limit=audio_limit,
            resumable=resumable,
        )
        self._handlers: dict[type, Callable[[Any, float], None]] = self._server_handlers()

    # ------------------------------------------------------------------ outputs

    def next_message(self) -> dict[str, Any] | None:
        """The next client message to send (None: nothing to send now)."""
        return self._outbox.take()

    @property
    def pending_messages(self) -> int:
        """Messages waiting to be sent (input audio included)."""
        return len(self._outbox)

    @property
    def pending_control(self) -> int:
        """Messages other than input audio waiting to be sent (for back-pressure)."""
        return self._outbox.control

    def next_output(self) -> Output | None:
        """The next event to show or delegation to route (None: nothing now)."""
        return self._outputs.popleft() if self._outputs else None

    @property
    def busy(self) -> bool:
        """True between :class:`TurnStarted` and :class:`TurnDone`."""
        return self._answers.busy

    def snapshot(self) -> ConversationSnapshot:
        return ConversationSnapshot(
            self.version,
            self._transcript.entries,
            self._handoff.active_handoff_id,
            self._answers.busy,
            mode=self.mode,
            history=self._history.entries,
            history_dropped=self._history.dropped,
            handoff_phase=self._handoff.phase,
            answer_owed=self._answers.owes_answer,
            stale_ends=self._handoff.stale_ends,
            question=self._questions.pending,
        )

    # ------------------------------------------------------------- server side

    def receive_frame(self, data: str | bytes, now: float) -> None:
        """One TEXT frame from the server (never raises; see ``ServerEventParser``)."""
        event = self._parser.parse(data)
        if event is not None:
            self.receive_event(event, now)

    def receive_binary(self, data: bytes, now: float) -> None:
        """A binary frame: a protocol violation that ends the conversation."""
        self.receive_event(self._parser.parse_binary(data), now)

    def receive_event(self, event: RealtimeEvent, now: float) -> None:
        """One parsed server event; ``now`` is a monotonic time in seconds."""
        if self.end_reason is not None:
            return
        handler = self._handlers.get(type(event))
        if handler is None:
            self._outputs.append(event)
        else:
            handler(event, now)

"""The conversation core: every protocol decision of one realtime conversation, no I/O.

Modelled on h11's ``Connection``. One :class:`ConversationCore` per conversation takes
what happens *as arguments* — server frames or events, the person's text and audio,
explicit response requests, the background agent's messages and completion, the
outcome of a send, and the time — and answers with two queues the I/O layer drains:

* :meth:`next_message` — client messages to send, in order (JSON objects);
* :meth:`next_output` — what to show: the normalised :class:`RealtimeEvent` s (plus
  :class:`TurnStarted` / :class:`TurnDone`) and :class:`Delegate` requests (hand this
  text to the background agent, *before* showing the handoff event).

Once :attr:`end_reason` is set the conversation is over: the I/O layer emits what is
left in the outputs, then ``Closed(end_reason)``, and closes the socket.

Decisions made here (reference 1.5, 2.6, 4; reference-wire-facts 1-3):

* **v1 / v2**: user text gets the ``[USER] `` prefix on v2; agent output goes out as
  ``[BACKEND] `` items + a completion ``function_call_output`` (v2) or as
  ``conversation.handoff.append`` (v1); ``remain_silent`` calls get an empty output.
* **``response.create``** goes through one :class:`ResponseCreateQueue` (never two
  creates in flight). v1 has no ``response.*`` events: its responses are read from its
  own events — an assistant item is added or its transcript starts, and it ends on
  ``response.output_audio_transcript.done`` or that item's ``conversation.item.done``
  (a v1 ``conversation.handoff.requested`` is the model's whole answer).
* **Transcript** accumulation (:class:`TranscriptAccumulator`) and the delegation text.
* **Barge-in** (WebSocket audio): on ``speech_started`` the assistant item being played
  is truncated at the played position (:mod:`._playback`). Over WebRTC the server owns
  the output buffer and handles the interruption itself: nothing is sent.
* **Turns**: :class:`TurnStarted` when the assistant comes to owe an answer (a request,
  speech, a delegation, agent output to speak) and :class:`TurnDone` when nothing is
  owed any more: no response active or owed, no delegated task running, and (WebRTC)
  the server's output audio buffer drained.
* **Errors**: a server ``error`` ends the conversation (reference 1.5), except three
  that are survived: ``conversation_already_has_active_response`` (the create is owed
  again, not shown), a refused ``conversation.item.truncate`` (recognised by the
  ``event_id`` we gave it; logged, not shown), and a frame refused for its nesting
  depth (:data:`FRAME_TOO_DEEP`; shown as an ``ErrorEvent``, and the conversation goes
  on). A binary frame, a read error or a failed send end it.

Hot path: an audio delta is one exact-type dict lookup, one tracker update and one
append to the outputs; no other allocation.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from realtalk.protocol._codec import (
    FRAME_TOO_DEEP,
    ServerEventParser,
    input_audio_append,
    item_truncate,
    response_create,
    user_text_item,
)
from realtalk.protocol._events import (
    AudioFrame,
    AudioOut,
    ConversationItemAdded,
    ConversationItemDone,
    ErrorEvent,
    HandoffRequested,
    InputAudioSpeechStarted,
    InputTranscriptDelta,
    InputTranscriptDone,
    Mode,
    NoopRequested,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    RealtimeEvent,
    ResponseCancelled,
    ResponseCreated,
    ResponseDone,
    SessionUpdated,
    TranscriptEntry,
    TurnDone,
    TurnStarted,
    Version,
)
from realtalk.protocol._handoff import HandoffAction, HandoffState, SendMessage, delegation_text
from realtalk.protocol._playback import AssistantAudio, PlaybackClock
from realtalk.protocol._response_queue import (
    ACTIVE_RESPONSE_ERROR_CODE,
    QueueState,
    ResponseCreateQueue,
)
from realtalk.protocol._transcript import TranscriptAccumulator

__all__ = [
    "AUDIO_OUTBOX_LIMIT",
    "ConversationCore",
    "ConversationSnapshot",
    "Delegate",
    "EndReason",
    "Media",
    "Output",
]

logger = logging.getLogger(__name__)

AUDIO_OUTBOX_LIMIT: Final = 256
"""Input audio frames waiting to be sent; beyond it new frames are dropped (logged)."""
_BEST_EFFORT_IDS: Final = 16

EndReason = Literal["transport_closed", "error"]


class Media(enum.Enum):
    """Who plays the assistant's audio, and so who handles barge-in."""

    WEBSOCKET = "websocket"  # audio deltas over the socket: the client plays and truncates
    WEBRTC = "webrtc"  # a media track: the server owns the output buffer


@dataclass(frozen=True, slots=True)
class Delegate:
    """Hand ``text`` (a ``<realtime_delegation>``) to the background agent."""

    text: str


Output = RealtimeEvent | Delegate


@dataclass(frozen=True, slots=True)
class ConversationSnapshot:
    """What a conversation knows, for a UI or to restore it on a new session."""

    version: Version
    transcript: tuple[TranscriptEntry, ...]
    active_handoff_id: str | None
    busy: bool


_TURN_STARTED: Final = TurnStarted()
_TURN_DONE: Final = TurnDone()
_AUDIO: Final = "input audio"
_TRUNCATE: Final = "truncate"
_CREATE: Final = "response.create"


class ConversationCore:
    """The protocol state of one conversation (see the module docstring)."""

    def __init__(
        self,
        version: Version,
        *,
        mode: Mode = Mode.CONVERSATIONAL,
        media: Media = Media.WEBSOCKET,
        playback: PlaybackClock | None = None,
        audio_limit: int = AUDIO_OUTBOX_LIMIT,
    ) -> None:
        self.version = version
        self.mode = Mode.CONVERSATIONAL if version is Version.V1 else mode
        self.media = media
        self.playback = playback
        self.end_reason: EndReason | None = None
        self._v2 = version is Version.V2
        self._truncates = self._v2 and media is Media.WEBSOCKET
        self._parser = ServerEventParser(version)
        self._transcript = TranscriptAccumulator()
        self._handoff = HandoffState(version)
        self._responses = ResponseCreateQueue()
        self._audio = AssistantAudio()
        self._outbox: deque[tuple[str, dict[str, Any]] | AudioFrame] = deque()
        self._outputs: deque[Output] = deque()
        self._audio_limit = audio_limit
        self._queued_audio = 0
        self._dropped_audio = 0
        self._sending = ""  # what the message last handed out by next_message() is
        self._best_effort: deque[str] = deque(maxlen=_BEST_EFFORT_IDS)
        self._truncate_count = 0
        self._owed = 0  # answers the assistant owes (v1 speaks each handoff.append)
        self._v1_item: str | None = None  # the v1 assistant item being spoken
        self._v1_speaking = False
        self._server_playing = False  # WebRTC: the server's output audio buffer plays
        self._busy = False
        self._handlers: dict[type, Callable[[Any, float], None]] = {
            AudioOut: self._on_audio,
            OutputTranscriptDelta: self._on_output_delta,
            InputTranscriptDelta: self._on_transcript,
            InputTranscriptDone: self._on_input_done,
            OutputTranscriptDone: self._on_output_done,
            InputAudioSpeechStarted: self._on_speech_started,
            ResponseCreated: self._on_response_created,
            ResponseDone: self._on_response_finished,
            ResponseCancelled: self._on_response_finished,
            OutputAudioBufferStarted: self._on_server_playing,
            OutputAudioBufferStopped: self._on_server_playing,
            OutputAudioBufferCleared: self._on_server_playing,
            ConversationItemAdded: self._on_item_added,
            ConversationItemDone: self._on_item_done,
            HandoffRequested: self._on_handoff,
            NoopRequested: self._on_noop,
            ErrorEvent: self._on_error,
            SessionUpdated: self._on_session_updated,
        }

    # ------------------------------------------------------------------ outputs

    def next_message(self) -> dict[str, Any] | None:
        """The next client message to send (None: nothing to send now)."""
        if not self._outbox:
            return None
        item = self._outbox.popleft()
        if type(item) is AudioFrame:
            self._queued_audio -= 1
            self._sending = _AUDIO
            return input_audio_append(item.data)
        assert type(item) is tuple
        self._sending, message = item
        return message

    @property
    def pending_messages(self) -> int:
        """Messages waiting to be sent (input audio included)."""
        return len(self._outbox)

    @property
    def pending_control(self) -> int:
        """Messages other than input audio waiting to be sent (for back-pressure)."""
        return len(self._outbox) - self._queued_audio

    def next_output(self) -> Output | None:
        """The next event to show or delegation to route (None: nothing now)."""
        return self._outputs.popleft() if self._outputs else None

    @property
    def busy(self) -> bool:
        """True between :class:`TurnStarted` and :class:`TurnDone`."""
        return self._busy

    def snapshot(self) -> ConversationSnapshot:
        return ConversationSnapshot(
            self.version,
            self._transcript.entries,
            self._handoff.active_handoff_id,
            self._busy,
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

    def stream_ended(self) -> None:
        """The server closed the socket: the conversation ends (``transport_closed``)."""
        if self.end_reason is None:
            logger.info("realtime stream closed by the server")
            self.end_reason = "transport_closed"

    def stream_failed(self, message: str) -> None:
        """Reading failed: an error, then the end."""
        self.fail(f"realtime stream error: {message}")

    def send_failed(self, error: str) -> None:
        """Sending the message last returned by :meth:`next_message` failed."""
        what = self._sending
        if what == _CREATE and self._responses.on_send_result(error):
            self._update_turn()
            return  # "already has an active response": owed again, not fatal
        if what == _TRUNCATE:
            logger.warning("failed to truncate realtime audio: %s", error)
            return
        self.fail(f"failed to send {what}: {error}")

    # --------------------------------------------------------------- user side

    def user_text(self, text: str) -> bool:
        """Append user text to the conversation (append-only: no response is asked)."""
        if self.end_reason is not None:
            return False
        self._send(user_text_item(self.version, text), "input text")
        return True

    def user_audio(self, frame: AudioFrame) -> bool:
        """Queue one input audio frame; False if it was dropped (queue full or ended)."""
        if self.end_reason is not None:
            return False
        if self._queued_audio >= self._audio_limit:
            self._dropped_audio += 1
            if self._dropped_audio == 1 or self._dropped_audio % 100 == 0:
                logger.warning(
                    "dropping input audio frame due to full queue",
                    extra={"dropped_total": self._dropped_audio},
                )
            return False
        self._outbox.append(frame)
        self._queued_audio += 1
        return True

    def request_response(self, reason: str = "user request") -> bool:
        """Ask the model to answer (after everything queued so far)."""
        if self.end_reason is not None:
            return False
        self._request_create(reason)
        self._update_turn()
        return True

    # -------------------------------------------------------------- agent side

    def agent_message(self, text: str) -> None:
        """One assistant message of the background agent, in the agent's order."""
        if self.end_reason is None:
            self._run(self._handoff.agent_message(text), "handoff output")

    def agent_complete(self) -> None:
        """The agent's task ended (v2: completion ack and a response, if it said anything)."""
        if self.end_reason is None:
            self._run(self._handoff.agent_complete(), "handoff output")

    def agent_failed(self, message: str) -> None:
        """The agent's task failed: the failure is spoken back like an agent message."""
        if self.end_reason is None:
            self._run(self._handoff.agent_failed(message), "handoff output")

    # ------------------------------------------------------------ internals

    def _send(self, message: dict[str, Any], what: str) -> None:
        self._outbox.append((what, message))

    def _request_create(self, reason: str) -> None:
        self._owed = max(self._owed, 1)  # creates coalesce in the queue: one answer
        if self._responses.request_create(reason):
            self._send(response_create(), _CREATE)

    def _run(self, actions: list[HandoffAction], what: str, *, turn: bool = True) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                message = action.message
                self._send(message, what)
                if message["type"] == "conversation.handoff.append":
                    self._owed += 1  # v1 speaks every append as its own response
            else:
                self._request_create(action.reason)
        if turn:
            self._update_turn()

    def fail(self, message: str) -> None:
        """End the conversation with an error (a local failure: a bug, a failed join)."""
        if self.end_reason is None:
            logger.error("realtime conversation failed: %s", message)
            self._outputs.append(ErrorEvent(message))
            self.end_reason = "error"

    def _update_turn(self) -> None:
        busy = (
            self._owed > 0
            or self._responses.state is not QueueState.IDLE
            or self._handoff.active
            or self._server_playing
        )
        if busy is not self._busy:
            self._busy = busy
            self._outputs.append(_TURN_STARTED if busy else _TURN_DONE)

    def _response_started(self, response_id: str | None) -> None:
        self._responses.on_response_created(response_id)
        if self._owed:
            self._owed -= 1

    def _response_finished(
        self, response_id: str | None, kind: Literal["done", "cancelled"]
    ) -> None:
        if self._responses.on_response_finished(response_id, kind):
            self._send(response_create(), _CREATE)  # the owed create

    # ---------------------------------------------------------------- handlers

    def _on_audio(self, event: AudioOut, now: float) -> None:
        if self._truncates:
            self._audio.on_delta(event.frame, now)
        self._outputs.append(event)

    def _on_transcript(self, event: RealtimeEvent, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))

    def _on_output_delta(self, event: OutputTranscriptDelta, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        if not self._v2 and not self._v1_speaking:
            self._v1_started(None)

    def _on_input_done(self, event: InputTranscriptDone, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        if self.mode is Mode.TRANSCRIPTION:
            self._owed = 0  # the transcript is the whole answer
            self._update_turn()

    def _on_output_done(self, event: OutputTranscriptDone, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        if not self._v2:
            self._v1_finished()

    def _on_speech_started(self, event: InputAudioSpeechStarted, now: float) -> None:
        # `event.item_id` is the new *user* item; the item to cut is the one playing.
        if self._truncates:
            cut = self._audio.cut(
                now,
                self.playback,
                response_active=self._responses.state is not QueueState.IDLE,
            )
            if cut is not None:
                self._truncate_count += 1
                event_id = f"realtalk_truncate_{self._truncate_count}"
                self._best_effort.append(event_id)
                self._send(item_truncate(*cut, event_id=event_id), _TRUNCATE)
        self._outputs.append(self._transcript.observe(event))
        self._owed = 1  # the person is talking: an answer to *this* is owed now
        self._update_turn()

    def _on_response_created(self, event: ResponseCreated, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        self._response_started(event.response_id)
        self._update_turn()

    def _on_response_finished(self, event: ResponseDone | ResponseCancelled, now: float) -> None:
        kind: Literal["done", "cancelled"] = (
            "cancelled"
            if type(event) is ResponseCancelled
            or (type(event) is ResponseDone and event.status == "cancelled")
            else "done"
        )
        self._response_finished(event.response_id, kind)
        self._outputs.append(event)
        self._update_turn()

    def _on_server_playing(self, event: RealtimeEvent, now: float) -> None:
        self._server_playing = type(event) is OutputAudioBufferStarted
        self._outputs.append(event)
        self._update_turn()

    def _on_item_added(self, event: ConversationItemAdded, now: float) -> None:
        self._outputs.append(event)
        item = event.item
        if not self._v2 and item.get("type") == "message" and item.get("role") == "assistant":
            item_id = item.get("id")
            self._v1_started(item_id if type(item_id) is str else None)

    def _on_item_done(self, event: ConversationItemDone, now: float) -> None:
        self._outputs.append(event)
        if not self._v2 and self._v1_speaking and event.item_id == self._v1_item:
            self._v1_finished()

    def _v1_started(self, item_id: str | None) -> None:
        if self._v1_speaking:
            self._v1_item = self._v1_item or item_id
            return
        self._v1_speaking = True
        self._v1_item = item_id
        self._response_started(None)
        self._update_turn()

    def _v1_finished(self) -> None:
        if self._v1_speaking:
            self._v1_speaking = False
            self._v1_item = None
            self._response_finished(None, "done")
            self._update_turn()

    def _on_handoff(self, event: HandoffRequested, now: float) -> None:
        handoff = self._transcript.observe(event)  # with the transcript since the last one
        assert isinstance(handoff, HandoffRequested)
        actions = self._handoff.on_handoff_requested(handoff)
        self._run(actions, "handoff steering acknowledgement", turn=False)
        text = delegation_text(handoff)
        if text is not None:
            logger.debug("[realtime-text] appending realtime conversation text output")
            self._outputs.append(Delegate(text))
        self._outputs.append(handoff)
        if not self._v2:  # the request is v1's whole response
            self._v1_speaking = False
            self._response_started(None)
            self._response_finished(None, "done")
        self._update_turn()

    def _on_noop(self, event: NoopRequested, now: float) -> None:
        self._run(self._handoff.on_noop(event), "noop function output", turn=False)
        self._outputs.append(event)

    def _on_session_updated(self, event: SessionUpdated, now: float) -> None:
        logger.info(
            "realtime session updated", extra={"realtime_session_id": event.realtime_session_id}
        )
        self._outputs.append(event)

    def _on_error(self, event: ErrorEvent, now: float) -> None:
        if event.code == ACTIVE_RESPONSE_ERROR_CODE:
            # Benign race: our create met an active response. Owe it until that ends.
            logger.warning("realtime response.create raced an active response; deferring")
            self._responses.on_active_response_error()
            self._update_turn()
        elif event.code == FRAME_TOO_DEEP:
            self._outputs.append(event)  # shown; the conversation goes on
        elif event.event_id is not None and event.event_id in self._best_effort:
            logger.warning(
                "the server refused a truncate: %s",
                event.message,
                extra={"event_id": event.event_id, "error_code": event.code},
            )
        else:
            logger.error("realtime stream error event received")
            self._outputs.append(event)
            self.end_reason = "error"

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

from realtalk.protocol._answers import Answers
from realtalk.protocol._codec import (
    FRAME_TOO_DEEP,
    ServerEventParser,
    input_audio_clear,
    input_audio_commit,
    item_truncate,
    output_audio_buffer_clear,
    response_cancel,
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
    Version,
)
from realtalk.protocol._handoff import HandoffAction, HandoffState, SendMessage, delegation_text
from realtalk.protocol._history import History
from realtalk.protocol._outbox import AUDIO_OUTBOX_LIMIT, Outbox
from realtalk.protocol._playback import AssistantAudio, PlaybackClock
from realtalk.protocol._response_queue import ACTIVE_RESPONSE_ERROR_CODE
from realtalk.protocol._restore import (
    SESSION_EXPIRED_CODE,
    ConversationSnapshot,
    LossCause,
    Replayed,
    RestorePlan,
    Rotation,
    SessionLost,
    plan_restore,
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

_BEST_EFFORT_IDS: Final = 16

EndReason = Literal["transport_closed", "error", "session_lost"]


class Media(enum.Enum):
    """Who plays the assistant's audio, and so who handles barge-in."""

    WEBSOCKET = "websocket"  # audio deltas over the socket: the client plays and truncates
    WEBRTC = "webrtc"  # a media track: the server owns the output buffer


@dataclass(frozen=True, slots=True)
class Delegate:
    """Hand ``text`` (a ``<realtime_delegation>``) to the background agent."""

    text: str


Output = RealtimeEvent | Delegate


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
        resumable: bool = False,
    ) -> None:
        """``resumable``: the I/O layer continues the conversation on a new session when
        this one ends (see the module docstring); else such an end is final."""
        self.version = version
        self.mode = Mode.CONVERSATIONAL if version is Version.V1 else mode
        self.media = media
        self.playback = playback
        self.end_reason: EndReason | None = None
        self.resumable = resumable
        self.lost: SessionLost | None = None
        self._v2 = version is Version.V2
        self._truncates = self._v2 and media is Media.WEBSOCKET
        self._parser = ServerEventParser(version)
        self._transcript = TranscriptAccumulator()
        self._handoff = HandoffState(version)
        self._answers = Answers()
        self._audio = AssistantAudio()
        self._outbox = Outbox(audio_limit)
        self._outputs: deque[Output] = deque()
        self._best_effort: deque[str] = deque(maxlen=_BEST_EFFORT_IDS)
        self._best_effort_count = 0
        self._spoken = False  # input audio queued since the last begin/end of speech
        self._history = History()
        self._replayed = Replayed(())
        self._rotation = Rotation()
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
        )

    # ------------------------------------------------------------- sessions

    def restore(
        self, snapshot: ConversationSnapshot, plan: RestorePlan | None = None
    ) -> RestorePlan:
        """Continue ``snapshot``'s conversation on this core's (new) session.

        Call before any other input. Queues the replayed history (``plan``, by default
        :func:`plan_restore` of the snapshot) and, if an answer was owed, a
        ``response.create``; adopts a running delegated task; carries the turn state
        over, so a turn open in the old session ends here. The server's acks of the
        replayed items are not shown again (:class:`Replayed`). Returns the plan: its
        digest belongs in this session's instructions (:func:`restored_instructions`).
        """
        plan = plan or plan_restore(snapshot)
        self._history = History(snapshot.history, snapshot.history_dropped)
        for message in plan.messages:
            self._send(message, "restored history")
        self._replayed = Replayed(plan.messages)
        self._handoff.adopt(snapshot.handoff_phase)
        self._answers.carry(busy=snapshot.busy)
        if plan.respond:
            self._request_create("restored turn")
        self._update_turn()
        return plan

    def schedule_rotation(self, due: float, deadline: float) -> None:
        """Renew the session at the first turn boundary from ``due``, at ``deadline`` at
        the latest (monotonic seconds, as ``now``); :meth:`tick` tells the time."""
        self._rotation.schedule(due, deadline)

    def tick(self, now: float) -> None:
        """The time passed: a scheduled rotation may be due (or past its deadline)."""
        if self.end_reason is None and (when := self._rotation.tick(now)) is not None:
            if when == "deadline":
                self._lose("rotation", "renewed the session at its age limit (mid-turn)")
            else:
                self._rotate_if_quiet()

    def _rotate_if_quiet(self) -> None:
        if self._answers.quiet:
            self._lose("rotation", "renewed the session at its age limit (turn boundary)")

    def _lose(self, cause: LossCause, detail: str) -> bool:
        """The session ended; a resumable core ends with ``session_lost`` (True)."""
        if not self.resumable:
            return False
        if self.end_reason is None:
            logger.warning(
                "realtime session ended; a new session can continue the conversation",
                extra={"cause": cause, "detail": detail},
            )
            self.lost = SessionLost(cause, detail)
            self.end_reason = "session_lost"
        return True

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

    def stream_ended(self, detail: str = "") -> None:
        """The server closed the socket (``detail``: its close code and reason): the
        conversation ends (``transport_closed``; resumable: ``session_lost``)."""
        if self._lose("closed", detail or "the server closed the connection"):
            return
        if self.end_reason is None:
            logger.info("realtime stream closed by the server")
            self.end_reason = "transport_closed"

    def stream_failed(self, message: str) -> None:
        """Reading failed: an error, then the end (resumable: ``session_lost``)."""
        if not self._lose("read_error", message):
            self.fail(f"realtime stream error: {message}")

    def send_failed(self, error: str) -> None:
        """Sending the message last returned by :meth:`next_message` failed."""
        what = self._outbox.last
        if what == _CREATE and self._answers.send_failed(error):
            self._update_turn()
            return  # "already has an active response": owed again, not fatal
        if what == _TRUNCATE:
            logger.warning("failed to truncate realtime audio: %s", error)
            return
        if not self._lose("send_failed", f"failed to send {what}: {error}"):
            self.fail(f"failed to send {what}: {error}")

    # --------------------------------------------------------------- user side

    def user_text(self, text: str) -> bool:
        """Append user text to the conversation (append-only: no response is asked)."""
        if self.end_reason is not None:
            return False
        self._send(user_text_item(self.version, text), "input text")
        self._history.typed(text)
        return True

    def user_audio(self, frame: AudioFrame) -> bool:
        """Queue one input audio frame; False if it was dropped (queue full or ended)."""
        if self.end_reason is not None:
            return False
        queued = self._outbox.put_audio(frame)
        self._spoken = self._spoken or queued
        return queued

    def begin_speech(self, now: float) -> bool:
        """Push-to-talk pressed (a session without server VAD, v2): the person talks.

        The assistant is stopped (:meth:`interrupt`) and input audio not committed yet
        is dropped, so the turn holds only what is said from now on.
        """
        if self.end_reason is not None or not self._v2:
            return False
        self.interrupt(now)
        self._send(input_audio_clear(), "input_audio_buffer.clear")
        self._spoken = False
        return True

    def end_speech(self) -> bool:
        """Push-to-talk released: commit what was said and ask for the answer.

        False, and nothing sent, when no audio came since :meth:`begin_speech` (the
        server refuses to commit an empty buffer).
        """
        if self.end_reason is not None or not self._v2 or not self._spoken:
            return False
        self._spoken = False
        self._send(input_audio_commit(), "input_audio_buffer.commit")
        self._request_create("push to talk")
        self._update_turn()
        return True

    def request_response(self, reason: str = "user request") -> bool:
        """Ask the model to answer (after everything queued so far)."""
        if self.end_reason is not None:
            return False
        self._request_create(reason)
        self._update_turn()
        return True

    def interrupt(self, now: float) -> bool:
        """The person stops the assistant (a key, not speech); False: nothing to stop.

        v2 only. An active response is cancelled (``response.cancel``); over WebSocket
        the answer is cut where it was heard, by the barge-in rule; over WebRTC the
        server's output buffer is cleared (``output_audio_buffer.clear``). Both are
        best effort: a refusal (the response just ended) is logged, not shown.
        """
        if self.end_reason is not None or not self._v2:
            return False
        sent = False
        if self._answers.response_active:
            self._send(response_cancel(self._best_effort_id("cancel")), "response.cancel")
            sent = True
        if self._truncates:
            sent = self._truncate_playing(now) or sent
        elif self.media is not Media.WEBSOCKET and self._answers.server_playing_now:
            clear = output_audio_buffer_clear(self._best_effort_id("clear"))
            self._send(clear, "output_audio_buffer.clear")
            sent = True
        return sent

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
        self._outbox.put(message, what)

    def _request_create(self, reason: str) -> None:
        if self._answers.request(reason):
            self._send_create()

    def _send_create(self) -> None:
        self._send(response_create(), _CREATE)

    def _run(self, actions: list[HandoffAction], what: str, *, turn: bool = True) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                message = action.message
                self._send(message, what)
                if message["type"] == "conversation.handoff.append":
                    self._answers.spoken_append()  # spoken: its transcript is the history
                elif message["item"].get("role") == "user":  # a [BACKEND] update
                    self._history.agent(message["item"]["content"][0]["text"])
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
        edge = self._answers.turn(delegated=self._handoff.active)
        if edge is not None:
            self._outputs.append(edge)
        if self._rotation.due:
            self._rotate_if_quiet()

    # ---------------------------------------------------------------- handlers

    def _on_audio(self, event: AudioOut, now: float) -> None:
        if self._truncates:
            self._audio.on_delta(event.frame, now)
        self._outputs.append(event)

    def _on_transcript(self, event: RealtimeEvent, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))

    def _on_output_delta(self, event: OutputTranscriptDelta, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        if not self._v2:
            self._answers.v1_started(None)
            self._update_turn()

    def _on_input_done(self, event: InputTranscriptDone, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        self._history.spoken(event.text)
        if self.mode is Mode.TRANSCRIPTION:
            self._answers.transcribed()
            self._update_turn()

    def _on_output_done(self, event: OutputTranscriptDone, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        self._history.answer(event.text)
        if not self._v2:
            if self._answers.v1_finished():
                self._send_create()  # the create owed until now
            self._update_turn()

    def _best_effort_id(self, what: str) -> str:
        """An ``event_id`` whose ``error`` is logged, not fatal (see ``_on_error``)."""
        self._best_effort_count += 1
        event_id = f"realtalk_{what}_{self._best_effort_count}"
        self._best_effort.append(event_id)
        return event_id

    def _truncate_playing(self, now: float) -> bool:
        """Cut the assistant item playing now at the played position (WebSocket v2)."""
        cut = self._audio.cut(now, self.playback, response_active=self._answers.response_active)
        if cut is None:
            return False
        self._send(item_truncate(*cut, event_id=self._best_effort_id("truncate")), _TRUNCATE)
        return True

    def _on_speech_started(self, event: InputAudioSpeechStarted, now: float) -> None:
        # `event.item_id` is the new *user* item; the item to cut is the one playing.
        if self._truncates:
            self._truncate_playing(now)
        self._outputs.append(self._transcript.observe(event))
        self._history.speech_started()
        self._answers.speech()
        self._update_turn()

    def _on_response_created(self, event: ResponseCreated, now: float) -> None:
        self._outputs.append(self._transcript.observe(event))
        self._answers.started(event.response_id)
        self._update_turn()

    def _on_response_finished(self, event: ResponseDone | ResponseCancelled, now: float) -> None:
        kind: Literal["done", "cancelled"] = (
            "cancelled"
            if type(event) is ResponseCancelled
            or (type(event) is ResponseDone and event.status == "cancelled")
            else "done"
        )
        if self._answers.finished(event.response_id, kind):
            self._send_create()  # the create owed until now
        self._outputs.append(event)
        self._update_turn()

    def _on_server_playing(self, event: RealtimeEvent, now: float) -> None:
        self._answers.server_playing(playing=type(event) is OutputAudioBufferStarted)
        self._outputs.append(event)
        self._update_turn()

    def _on_item_added(self, event: ConversationItemAdded, now: float) -> None:
        item = event.item
        if self._replayed.is_ack(item):
            return  # the server's ack of a restored item: shown in the old session
        self._outputs.append(event)
        if not self._v2 and item.get("type") == "message" and item.get("role") == "assistant":
            item_id = item.get("id")
            self._answers.v1_started(item_id if type(item_id) is str else None)
            self._update_turn()

    def _on_item_done(self, event: ConversationItemDone, now: float) -> None:
        if self._replayed.is_ack_done(event.item_id):
            return
        self._outputs.append(event)
        if not self._v2:
            if self._answers.v1_finished(event.item_id):
                self._send_create()  # the create owed until now
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
        if not self._v2 and self._answers.v1_handoff():  # v1: the request is the answer
            self._send_create()  # the create owed until now
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
            self._answers.rejected()
            self._update_turn()
        elif event.code == FRAME_TOO_DEEP:
            self._outputs.append(event)  # shown; the conversation goes on
        elif event.event_id is not None and event.event_id in self._best_effort:
            logger.warning(
                "the server refused a truncate: %s",
                event.message,
                extra={"event_id": event.event_id, "error_code": event.code},
            )
        elif self._replayed.refused(event.event_id):
            logger.warning(  # one message of the restored history is lost, not the talk
                "the server refused a restored history item: %s",
                event.message,
                extra={"event_id": event.event_id, "error_code": event.code},
            )
        elif event.code == SESSION_EXPIRED_CODE and self._lose("session_expired", event.message):
            pass
        else:
            logger.error("realtime stream error event received")
            self._outputs.append(event)
            self.end_reason = "error"

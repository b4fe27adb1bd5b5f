"""The server's side of the conversation core: one handler per event type.

Part of :class:`ConversationCore` (pure). :meth:`ServerEvents._server_handlers` is the
dispatch table ``receive_event`` looks an event's exact type up in (an event without a
handler is shown as is). The handlers keep the transcript and the history, drive the
``response.create`` queue and v1's own response lifecycle (:mod:`._answers`: v1 has no
``response.*`` events), cut the playing answer on barge-in (:mod:`._core_input`), pass
the model's tool calls to :mod:`._core_delegation`, hide the server's acks of restored
items, and decide which ``error`` is survived (:meth:`ServerEvents._on_error`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from realtalk.protocol._codec import FRAME_TOO_DEEP
from realtalk.protocol._core_delegation import Delegation
from realtalk.protocol._core_input import UserInput
from realtalk.protocol._events import (
    AnswerApprovalRequested,
    AudioOut,
    CancelRequested,
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
)
from realtalk.protocol._response_queue import ACTIVE_RESPONSE_ERROR_CODE
from realtalk.protocol._restore import SESSION_EXPIRED_CODE

__all__ = ["ServerEvents"]

logger = logging.getLogger(__name__)


class ServerEvents(UserInput, Delegation):
    """What the server's events do to the conversation (see the module docstring)."""

    def _server_handlers(self) -> dict[type, Callable[[Any, float], None]]:
        return {
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
            CancelRequested: self._on_cancel_requested,
            AnswerApprovalRequested: self._on_answer_approval,
            ErrorEvent: self._on_error,
            SessionUpdated: self._on_session_updated,
        }

    # ------------------------------------------------------ audio and transcripts

    def _on_audio(self, event: AudioOut, now: float) -> None:
        # The hot path: one tracker update and one append, no other allocation.
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

    def _on_speech_started(self, event: InputAudioSpeechStarted, now: float) -> None:
        # `event.item_id` is the new *user* item; the item to cut is the one playing.
        if self._truncates:
            self._truncate_playing(now)
        self._outputs.append(self._transcript.observe(event))
        self._history.speech_started()
        self._answers.speech()
        self._update_turn()

    # ------------------------------------------------------------- responses

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

    # ----------------------------------------------------------------- items

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

    # --------------------------------------------------------- session, errors

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

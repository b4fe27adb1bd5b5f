"""Conversation events -> ``thread/realtime/*`` notifications (reference 5.2 table).

Pure mapping, no I/O. Events without a row in the table (``SessionUpdated``,
``ResponseCreated``, ``ResponseDone``, ``ConversationItemDone``, ``NoopRequested``,
``CancelRequested`` (its function-call item and the interrupted turn say it),
``AnswerApprovalRequested`` (its function-call item says it),
and agent activity, which the turn notifications cover) map to None. realtalk adds
``Reconnected`` -> ``thread/realtime/reconnected`` (a new realtime session continues the
conversation); ``Reconnecting`` has no notification (``reconnected`` or ``error`` and
``closed`` follow it).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import msgspec

from realtalk.app_server._api import (
    RealtimeAudioChunk,
    ThreadRealtimeClosedNotification,
    ThreadRealtimeErrorNotification,
    ThreadRealtimeItemAddedNotification,
    ThreadRealtimeOutputAudioDeltaNotification,
    ThreadRealtimeReconnectedNotification,
    ThreadRealtimeSdpNotification,
    ThreadRealtimeStartedNotification,
    ThreadRealtimeTranscriptDeltaNotification,
    ThreadRealtimeTranscriptDoneNotification,
)
from realtalk.app_server._methods import NotificationMethod
from realtalk.conversation import (
    Closed,
    ConversationEvent,
    Realtime,
    Reconnected,
    SdpAnswer,
    Started,
)
from realtalk.protocol import (
    AudioFrame,
    AudioOut,
    ConversationItemAdded,
    ErrorEvent,
    HandoffRequested,
    InputAudioSpeechStarted,
    InputTranscriptDelta,
    InputTranscriptDone,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    RealtimeEvent,
    ResponseCancelled,
)

__all__ = ["Notification", "audio_chunk", "map_event", "samples_per_channel"]

Role = Literal["user", "assistant"]


class Notification(NamedTuple):
    method: NotificationMethod
    params: msgspec.Struct


def samples_per_channel(data_b64: str, num_channels: int) -> int:
    """Samples per channel of base64 PCM16 audio, computed without decoding it."""
    padding = len(data_b64) - len(data_b64.rstrip("="))
    size = len(data_b64) * 3 // 4 - padding
    return size // (2 * max(num_channels, 1))


def audio_chunk(frame: AudioFrame) -> RealtimeAudioChunk:
    spc = frame.samples_per_channel
    if spc is None:
        spc = samples_per_channel(frame.data, frame.num_channels)
    return RealtimeAudioChunk(
        data=frame.data,
        sample_rate=frame.sample_rate,
        num_channels=frame.num_channels,
        samples_per_channel=spc,
        item_id=frame.item_id,
    )


def _item(thread_id: str, item: dict[str, Any]) -> Notification:
    return Notification(
        NotificationMethod.REALTIME_ITEM_ADDED,
        ThreadRealtimeItemAddedNotification(thread_id=thread_id, item=item),
    )


def _map_realtime(thread_id: str, event: RealtimeEvent) -> Notification | None:
    if isinstance(event, AudioOut):
        return Notification(
            NotificationMethod.REALTIME_OUTPUT_AUDIO_DELTA,
            ThreadRealtimeOutputAudioDeltaNotification(
                thread_id=thread_id, audio=audio_chunk(event.frame)
            ),
        )
    if isinstance(event, InputTranscriptDelta | OutputTranscriptDelta):
        role: Role = "user" if isinstance(event, InputTranscriptDelta) else "assistant"
        return Notification(
            NotificationMethod.REALTIME_TRANSCRIPT_DELTA,
            ThreadRealtimeTranscriptDeltaNotification(
                thread_id=thread_id, role=role, delta=event.delta
            ),
        )
    if isinstance(event, InputTranscriptDone | OutputTranscriptDone):
        role = "user" if isinstance(event, InputTranscriptDone) else "assistant"
        return Notification(
            NotificationMethod.REALTIME_TRANSCRIPT_DONE,
            ThreadRealtimeTranscriptDoneNotification(
                thread_id=thread_id, role=role, text=event.text
            ),
        )
    if isinstance(event, ConversationItemAdded):
        return _item(thread_id, event.item)
    if isinstance(event, HandoffRequested):
        return _item(
            thread_id,
            {
                "type": "handoff_request",
                "handoff_id": event.handoff_id,
                "item_id": event.item_id,
                "input_transcript": event.input_transcript,
                "active_transcript": [
                    {"role": entry.role, "text": entry.text} for entry in event.active_transcript
                ],
            },
        )
    if isinstance(event, InputAudioSpeechStarted):
        return _item(
            thread_id, {"type": "input_audio_buffer.speech_started", "item_id": event.item_id}
        )
    if isinstance(event, ResponseCancelled):
        return _item(thread_id, {"type": "response.cancelled", "response_id": event.response_id})
    if isinstance(event, ErrorEvent):
        return Notification(
            NotificationMethod.REALTIME_ERROR,
            ThreadRealtimeErrorNotification(thread_id=thread_id, message=event.message),
        )
    return None


def map_event(thread_id: str, event: ConversationEvent) -> Notification | None:
    """The notification for one conversation event (None: nothing is sent)."""
    if isinstance(event, Realtime):
        return _map_realtime(thread_id, event.payload)
    if isinstance(event, Started):
        return Notification(
            NotificationMethod.REALTIME_STARTED,
            ThreadRealtimeStartedNotification(
                thread_id=thread_id,
                realtime_session_id=event.realtime_session_id,
                version=event.version,
            ),
        )
    if isinstance(event, SdpAnswer):
        return Notification(
            NotificationMethod.REALTIME_SDP,
            ThreadRealtimeSdpNotification(thread_id=thread_id, sdp=event.sdp),
        )
    if isinstance(event, Closed):
        return Notification(
            NotificationMethod.REALTIME_CLOSED,
            ThreadRealtimeClosedNotification(thread_id=thread_id, reason=event.reason),
        )
    if isinstance(event, Reconnected):
        return Notification(
            NotificationMethod.REALTIME_RECONNECTED,
            ThreadRealtimeReconnectedNotification(
                thread_id=thread_id,
                cause=event.cause,
                attempts=event.attempts,
                restored_items=event.restored_items,
                folded_items=event.folded_items,
                elapsed_ms=event.elapsed_ms,
            ),
        )
    return None

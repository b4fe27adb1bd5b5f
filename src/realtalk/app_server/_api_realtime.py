"""Typed app-server API, part three: the experimental realtime methods (camelCase on the wire).

Re-exported by :mod:`._api`, whose tables list them. Unknown fields in params are
ignored (forward compatibility). ``prompt`` of ``thread/realtime/start`` keeps absent
(``UNSET``: default prompt) apart from ``null`` (no backend prompt).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from realtalk.app_server._api_base import Camel
from realtalk.protocol import Mode, OutputModality, Version

__all__ = [
    "RealtimeAudioChunk",
    "RealtimeTransport",
    "RealtimeTransportWebrtc",
    "RealtimeTransportWebsocket",
    "RealtimeVoices",
    "ThreadRealtimeAppendAudioParams",
    "ThreadRealtimeAppendTextParams",
    "ThreadRealtimeCancelHandoffParams",
    "ThreadRealtimeCancelHandoffResult",
    "ThreadRealtimeClosedNotification",
    "ThreadRealtimeErrorNotification",
    "ThreadRealtimeItemAddedNotification",
    "ThreadRealtimeListVoicesResult",
    "ThreadRealtimeOutputAudioDeltaNotification",
    "ThreadRealtimeReconnectedNotification",
    "ThreadRealtimeRequestResponseParams",
    "ThreadRealtimeSdpNotification",
    "ThreadRealtimeStartParams",
    "ThreadRealtimeStartedNotification",
    "ThreadRealtimeStopParams",
    "ThreadRealtimeTranscriptDeltaNotification",
    "ThreadRealtimeTranscriptDoneNotification",
]


class RealtimeTransportWebsocket(msgspec.Struct, frozen=True, tag_field="type", tag="websocket"):
    pass


class RealtimeTransportWebrtc(msgspec.Struct, frozen=True, tag_field="type", tag="webrtc"):
    sdp: str


RealtimeTransport = RealtimeTransportWebsocket | RealtimeTransportWebrtc


class ThreadRealtimeStartParams(Camel, frozen=True):
    thread_id: str
    output_modality: OutputModality
    prompt: str | None | msgspec.UnsetType = msgspec.UNSET
    realtime_session_id: str | None = None
    transport: RealtimeTransport | None = None
    voice: str | None = None
    version: Version | None = None
    mode: Mode | None = None
    model: str | None = None


class RealtimeAudioChunk(Camel, frozen=True, omit_defaults=True):
    data: str
    sample_rate: int
    num_channels: int
    samples_per_channel: int | None = None
    item_id: str | None = None


class ThreadRealtimeAppendAudioParams(Camel, frozen=True):
    thread_id: str
    audio: RealtimeAudioChunk


class ThreadRealtimeAppendTextParams(Camel, frozen=True):
    thread_id: str
    text: str


class ThreadRealtimeStopParams(Camel, frozen=True):
    thread_id: str


class ThreadRealtimeRequestResponseParams(Camel, frozen=True):
    """Ask the model to answer what was appended so far (``appendText`` never does)."""

    thread_id: str


class ThreadRealtimeCancelHandoffParams(Camel, frozen=True):
    """Cancel the task the conversation delegated to the agent (realtalk extension)."""

    thread_id: str


class ThreadRealtimeCancelHandoffResult(Camel, frozen=True):
    """``cancelled``: a delegation was running (the model is told; the agent stops)."""

    cancelled: bool


class RealtimeVoices(Camel, frozen=True):
    v1: list[str]
    v2: list[str]
    default_v1: str
    default_v2: str


class ThreadRealtimeListVoicesResult(Camel, frozen=True):
    voices: RealtimeVoices


class ThreadRealtimeStartedNotification(Camel, frozen=True):
    thread_id: str
    realtime_session_id: str | None
    version: Version


class ThreadRealtimeSdpNotification(Camel, frozen=True):
    thread_id: str
    sdp: str


class ThreadRealtimeItemAddedNotification(Camel, frozen=True):
    thread_id: str
    item: dict[str, Any]


class ThreadRealtimeTranscriptDeltaNotification(Camel, frozen=True):
    thread_id: str
    role: Literal["user", "assistant"]
    delta: str


class ThreadRealtimeTranscriptDoneNotification(Camel, frozen=True):
    thread_id: str
    role: Literal["user", "assistant"]
    text: str


class ThreadRealtimeOutputAudioDeltaNotification(Camel, frozen=True):
    thread_id: str
    audio: RealtimeAudioChunk


class ThreadRealtimeErrorNotification(Camel, frozen=True):
    thread_id: str
    message: str


class ThreadRealtimeReconnectedNotification(Camel, frozen=True):
    """A new realtime session continues the thread's conversation, its history restored
    (the old one ended: ``cause`` is ``session_expired``, ``closed``, ``read_error``,
    ``send_failed`` or ``rotation``)."""

    thread_id: str
    cause: str
    attempts: int
    restored_items: int
    folded_items: int
    elapsed_ms: float


class ThreadRealtimeClosedNotification(Camel, frozen=True):
    thread_id: str
    reason: str | None = None

"""Conversation-level inputs and outputs (reference 5.1)."""

from __future__ import annotations

from typing import Literal

import msgspec

from realtalk.protocol import Mode, OutputModality, RealtimeEvent, Version

__all__ = [
    "AgentActivity",
    "Closed",
    "CloseReason",
    "ConversationEvent",
    "Realtime",
    "Reconnected",
    "Reconnecting",
    "SdpAnswer",
    "StartParams",
    "Started",
    "WebRtcTransport",
    "WebSocketTransport",
]

CloseReason = Literal["requested", "transport_closed", "error"]


class WebSocketTransport(msgspec.Struct, frozen=True, tag_field="type", tag="websocket"):
    """Talk to the realtime model over one WebSocket (audio travels as base64 JSON)."""


class WebRtcTransport(msgspec.Struct, frozen=True, tag_field="type", tag="webrtc"):
    """Media flows over WebRTC; realtalk controls the call over a sideband WebSocket."""

    sdp: str


class StartParams(msgspec.Struct, frozen=True, kw_only=True):
    """Parameters of one conversation start. ``None`` means "use the settings".

    ``prompt`` distinguishes absent (``msgspec.UNSET``: the default backend
    prompt) from ``None`` (empty instructions) and a string (used as is).
    """

    output_modality: OutputModality | None = None
    prompt: str | None | msgspec.UnsetType = msgspec.UNSET
    realtime_session_id: str | None = None
    transport: WebSocketTransport | WebRtcTransport | None = None
    voice: str | None = None
    version: Version | None = None
    mode: Mode | None = None
    model: str | None = None


class _Out(msgspec.Struct, frozen=True, tag_field="event"):
    pass


class Started(_Out, frozen=True, tag="started"):
    realtime_session_id: str | None
    version: Version


class SdpAnswer(_Out, frozen=True, tag="sdp"):
    sdp: str


class Realtime(_Out, frozen=True, tag="realtime"):
    payload: RealtimeEvent


class Closed(_Out, frozen=True, tag="closed"):
    reason: CloseReason


class AgentActivity(_Out, frozen=True, tag="agent"):
    """What the background agent is doing (for UIs; not sent to the model as is).

    ``kind`` is ``submitted`` (delegation text routed to the agent), ``message``
    (an assistant message), ``complete`` or ``failed``.
    """

    kind: Literal["submitted", "message", "complete", "failed"]
    text: str = ""


class Reconnecting(_Out, frozen=True, tag="reconnecting"):
    """The realtime session ended under the conversation; a new one is being opened.

    ``cause``: ``session_expired`` (the server's cap), ``closed`` (the server closed the
    socket), ``read_error``, ``send_failed``, or ``rotation`` (renewed before the cap, at
    a turn boundary). ``detail``: the server's words or the error.
    """

    cause: str
    detail: str = ""


class Reconnected(_Out, frozen=True, tag="reconnected"):
    """A new realtime session continues the conversation, its history restored.

    ``restored_items`` messages were replayed as items, ``folded_items`` older ones went
    into the instructions' digest; ``attempts`` connections were tried; ``elapsed_ms``
    from the end of the old session to the new one's ``session.update``.
    """

    cause: str
    attempts: int
    restored_items: int
    folded_items: int
    elapsed_ms: float


ConversationEvent = (
    Started | SdpAnswer | Realtime | Closed | AgentActivity | Reconnecting | Reconnected
)

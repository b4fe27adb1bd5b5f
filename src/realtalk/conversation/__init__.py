"""Conversations: start / replace / close, audio and text in, events out, handoffs."""

from realtalk.conversation._context import build_startup_context
from realtalk.conversation._manager import ConversationManager, Subscription
from realtalk.conversation._types import (
    AgentActivity,
    Closed,
    CloseReason,
    ConversationEvent,
    Realtime,
    SdpAnswer,
    Started,
    StartParams,
    WebRtcTransport,
    WebSocketTransport,
)

__all__ = [
    "AgentActivity",
    "CloseReason",
    "Closed",
    "ConversationEvent",
    "ConversationManager",
    "Realtime",
    "SdpAnswer",
    "StartParams",
    "Started",
    "Subscription",
    "WebRtcTransport",
    "WebSocketTransport",
    "build_startup_context",
]

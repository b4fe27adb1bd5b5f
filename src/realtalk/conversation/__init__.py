"""Conversations: start / replace / close, audio and text in, events out, handoffs.

:class:`Settings` (what ``realtalk`` reads from its config file and environment, see
:func:`load_settings`) configures a :class:`ConversationManager`.
"""

from realtalk._config import Settings, load_settings
from realtalk.conversation._context import ThreadHistory, ThreadTurn, build_startup_context
from realtalk.conversation._manager import ConversationManager, Subscription
from realtalk.conversation._subscription import Sink
from realtalk.conversation._types import (
    AgentActivity,
    Closed,
    CloseReason,
    ConversationEvent,
    Realtime,
    Reconnected,
    Reconnecting,
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
    "Reconnected",
    "Reconnecting",
    "SdpAnswer",
    "StartParams",
    "Started",
    "Settings",
    "Sink",
    "Subscription",
    "ThreadHistory",
    "ThreadTurn",
    "WebRtcTransport",
    "WebSocketTransport",
    "build_startup_context",
    "load_settings",
]

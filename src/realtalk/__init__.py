"""realtalk: talk to a coding agent through a realtime speech model."""

from realtalk._errors import (
    AgentError,
    ConfigError,
    ConnectError,
    ConversationNotRunningError,
    HandshakeError,
    ProtocolError,
    RealtalkError,
    ReconnectError,
    StoreError,
    ThreadBusyError,
    ThreadNotFoundError,
    TlsConfigError,
    TransportClosedError,
    TransportError,
)

__all__ = [
    "AgentError",
    "ConfigError",
    "ConnectError",
    "ConversationNotRunningError",
    "HandshakeError",
    "ProtocolError",
    "RealtalkError",
    "ReconnectError",
    "StoreError",
    "ThreadBusyError",
    "ThreadNotFoundError",
    "TlsConfigError",
    "TransportClosedError",
    "TransportError",
]

__version__ = "0.1.0"

"""The one exception tree of realtalk.

::

    RealtalkError
    ├── ConfigError                  bad config file / env value / preflight failure
    ├── TlsConfigError               custom CA selection or loading failed
    ├── ProtocolError                a peer broke the wire protocol
    ├── ConversationNotRunningError  input while no conversation is running
    ├── AgentError                   the background agent failed
    ├── StoreError                   the thread store failed (locked, unreadable, too new)
    │   ├── ThreadNotFoundError      no stored thread has that id
    │   └── ThreadBusyError          another app-server (or connection) holds the thread
    └── TransportError               network-level failure
        ├── ConnectError             could not connect (refused, DNS, TLS)
        │   └── HandshakeError       HTTP-level refusal (status, body)
        ├── TransportClosedError     the connection is closed
        └── ReconnectError           a lost realtime session could not be re-opened

Lower-layer exceptions are converted at each boundary with ``raise ... from exc``
(``realtalk._boundary.map_exceptions``).
Messages say what failed and what to do; they never contain secrets.
"""

from __future__ import annotations

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


class RealtalkError(Exception):
    """Root of every error realtalk raises on purpose."""


class ConfigError(RealtalkError):
    """Configuration or preflight validation failed."""


class TlsConfigError(ConfigError):
    """The custom CA bundle could not be selected, read or loaded."""


class ProtocolError(RealtalkError):
    """A peer sent something the protocol does not allow."""


class ConversationNotRunningError(RealtalkError):
    """Input arrived while no conversation is running."""

    def __init__(self, message: str = "conversation is not running") -> None:
        super().__init__(message)


class AgentError(RealtalkError):
    """The background agent failed."""


class StoreError(RealtalkError):
    """The thread store failed: locked too long, unreadable, or written by a newer realtalk."""


class ThreadNotFoundError(StoreError):
    """No stored thread has the requested id."""


class ThreadBusyError(StoreError):
    """Another app-server (or another connection) holds the thread's lease."""


class TransportError(RealtalkError):
    """A network transport failed."""


class ConnectError(TransportError):
    """Connecting failed (refused, unreachable, TLS verification, timeout)."""


class HandshakeError(ConnectError):
    """The server refused the HTTP request or WebSocket upgrade."""

    def __init__(self, message: str, *, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class TransportClosedError(TransportError):
    """The connection is closed."""


class ReconnectError(TransportError):
    """A realtime session ended and no new one could be opened to continue the talk."""

"""What the emulated Responses endpoint was asked, how it answered, and its fault knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["RecordedHandshake", "RecordedRequest", "ResponsesOptions", "ResponsesStats"]

JsonDict = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ResponsesOptions:
    """Latency and faults of the emulated Responses endpoint."""

    handshake_latency_ms: int = 0
    """Delay before answering each WebSocket upgrade."""
    refuse_upgrade_426: bool = False
    """Answer every upgrade with HTTP 426 (no WebSocket support)."""
    close_before_completed: bool = False
    """Close the socket / end the SSE stream instead of sending ``response.completed``."""
    close_after_completed: bool = False
    """Close the WebSocket right after each ``response.completed``."""
    fail_handshakes: int = 0
    """Answer the first N upgrades with HTTP 500."""


@dataclass(frozen=True)
class RecordedHandshake:
    """One WebSocket upgrade request and the status it got."""

    index: int
    headers: dict[str, str]
    status: int
    received_at: float


@dataclass(frozen=True)
class RecordedRequest:
    """One request: its JSON body, headers (the handshake's, for WebSocket) and answer."""

    transport: Literal["websocket", "http"]
    body: dict[str, Any]
    headers: dict[str, str]
    handshake: int | None
    received_at: float
    """``time.perf_counter()`` when the request arrived."""
    events: list[JsonDict] = field(default_factory=list)
    """What was sent back: the streamed events, or the one JSON Response / error body."""


@dataclass(frozen=True)
class ResponsesStats:
    """Counts for tests; served as JSON by the stats route."""

    handshakes: int
    failed_handshakes: int
    websocket_requests: int
    http_requests: int

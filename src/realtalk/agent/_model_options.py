"""Tuning of the Responses model client: timeouts, retries and switches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from realtalk._errors import ConfigError
from realtalk.agent._turn_metadata import DEFAULT_METADATA_BUDGET_S
from realtalk.protocol.responses import RESPONSES_WEBSOCKETS_BETA

__all__ = ["ModelClientOptions"]

_MAX_RETRIES_CAP: Final = 100


@dataclass(frozen=True, kw_only=True)
class ModelClientOptions:
    """Tuning of a :class:`ModelClient` (defaults follow the reference client)."""

    stream_max_retries: int = 5
    """Retries of a failed request before falling back to HTTP (then failing)."""
    idle_timeout_s: float = 300.0
    """Longest wait for any send or receive on an open stream."""
    connect_timeout_s: float = 15.0
    """Longest wait for a WebSocket handshake or the HTTP response headers."""
    retry_base_delay_s: float = 0.2
    """Backoff before retry n is ``base * 2**(n-1)`` times a jitter in [0.9, 1.1)."""
    websockets_enabled: bool = True
    """False: use HTTP + SSE only (no preconnect)."""
    websocket_beta: str = RESPONSES_WEBSOCKETS_BETA
    """Value of the ``OpenAI-Beta`` handshake header."""
    workspace: Path | None = None
    """Directory whose git state goes into ``x-codex-turn-metadata`` (None: no header)."""
    turn_metadata_budget_s: float = DEFAULT_METADATA_BUDGET_S
    """Time budget for computing the turn metadata."""
    max_message_bytes: int = 16 * 1024 * 1024
    """Largest accepted WebSocket message."""

    def __post_init__(self) -> None:
        if not 0 <= self.stream_max_retries <= _MAX_RETRIES_CAP:
            raise ConfigError(
                f"stream_max_retries must be between 0 and {_MAX_RETRIES_CAP}, "
                f"got {self.stream_max_retries}"
            )
        for name in ("idle_timeout_s", "connect_timeout_s", "turn_metadata_budget_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.retry_base_delay_s < 0 or self.max_message_bytes <= 0:
            raise ConfigError("retry_base_delay_s must be >= 0 and max_message_bytes positive")

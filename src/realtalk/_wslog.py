"""Credential headers redacted for WebSocket handshake logs.

realtalk's WebSocket clients (``realtalk._ws_connect``) log their handshake headers at
DEBUG through :func:`redact_headers`; aiohttp itself logs no request headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["redact_headers"]

_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "openai-api-key"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of credential headers replaced by ``[redacted]``."""
    return {
        name: "[redacted]" if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }

"""A ``websockets`` client logger that never writes credentials.

``websockets`` logs every handshake header at DEBUG, ``Authorization`` included;
every realtalk WebSocket client passes this logger instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["WS_CLIENT_LOGGER", "redact_headers"]

_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "openai-api-key"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of credential headers replaced by ``[redacted]``."""
    return {
        name: "[redacted]" if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if len(args) == 2 and str(args[0]).lower() in _SECRET_HEADERS:
            args = (args[0], "[redacted]")
        super().log(level, msg, *args, **kwargs)


WS_CLIENT_LOGGER: Final = _RedactingLogger(logging.getLogger("websockets.client"))

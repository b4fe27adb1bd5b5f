"""How deep a JSON text nests, counted before anything decodes it (pure).

The codec refuses a frame nested too deep (``FRAME_TOO_DEEP``); the wire structs check
a tool call's ``arguments`` (JSON inside a string) the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["MAX_JSON_DEPTH", "too_deep"]

MAX_JSON_DEPTH: Final = 64
"""The deepest JSON nesting realtalk decodes. Real server events nest under 10 levels;
a decoder (and every encoder downstream) recurses once per level, so a small hostile
frame nested thousands deep would otherwise exhaust the stack."""

# A JSON string (skipped: brackets inside strings do not nest), or one bracket.
_TOKENS: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_TOKENS_BYTES: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep(data: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if the JSON text ``data`` nests arrays/objects more than ``limit`` deep.

    Linear and cheap: a frame with at most ``limit`` brackets in all (every audio
    delta) is answered by two C-level counts; only a frame with more brackets is
    scanned, and the scan skips strings. Malformed JSON is measured the same way (the
    decoder rejects it afterwards).
    """
    if isinstance(data, str):
        if data.count("{") + data.count("[") <= limit:
            return False
        return _exceeds(_TOKENS.finditer(data), "{[", limit)
    if data.count(b"{") + data.count(b"[") <= limit:
        return False
    return _exceeds(_TOKENS_BYTES.finditer(data), b"{[", limit)


def _exceeds(tokens: Iterator[re.Match[Any]], opening: str | bytes, limit: int) -> bool:
    depth = 0
    for match in tokens:
        token = match.group()
        if len(token) != 1:
            continue  # a string
        if token in opening:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False

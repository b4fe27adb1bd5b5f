"""The event loop realtalk's commands run on: uvloop when it is installed, else asyncio's.

uvloop (``pip install 'realtalk[speed]'``) is optional: Linux and macOS only, and the
default loop stays the reference the tests run on. ``REALTALK_LOOP=asyncio`` forces
the default loop (to compare, or to rule uvloop out); ``REALTALK_LOOP=uvloop`` asks for
uvloop and fails clearly when it is missing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from realtalk._errors import ConfigError

__all__ = ["loop_factory", "loop_name", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when it should be used, else None (asyncio's default)."""
    wanted = os.environ.get("REALTALK_LOOP", "").strip().lower()
    if wanted not in ("", "auto", "asyncio", "uvloop"):
        raise ConfigError(f"REALTALK_LOOP must be asyncio or uvloop, not {wanted!r}")
    if wanted == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if wanted == "uvloop":
            raise ConfigError(
                "REALTALK_LOOP=uvloop, but uvloop is not installed: "
                "pip install 'realtalk[speed]' (Linux and macOS)"
            ) from None
        return None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop | None = None) -> str:
    """``"uvloop"`` or ``"asyncio"``: which loop runs (the running one by default)."""
    current = loop or asyncio.get_running_loop()
    return "uvloop" if type(current).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop :func:`loop_factory` picks."""
    try:
        factory = loop_factory()
    except ConfigError:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)

"""A bounded inbound queue that never blocks its producer: when full, the oldest goes.

The WebRTC peer hands received audio and data-channel events over through these, so
a slow consumer loses old chunks or events and never stalls aiortc.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

__all__ = ["DropOldest"]

_T = TypeVar("_T")


class DropOldest(Generic[_T]):
    """Items in order, at most ``size`` waiting (drop-oldest), until :meth:`end`."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[_T | None] = asyncio.Queue(size)

    def put(self, item: _T) -> bool:
        """Queue ``item`` without blocking; True when the oldest item was dropped for it."""
        return self._put(item)

    def end(self) -> None:
        """No more items: iterators stop once they have taken what is waiting."""
        self._put(None)

    async def items(self) -> AsyncIterator[_T]:
        """Yield the items until the end."""
        while (item := await self._queue.get()) is not None:
            yield item
        self._put(None)  # let other iterators end too

    def _put(self, item: _T | None) -> bool:
        dropped = False
        if self._queue.full():
            self._queue.get_nowait()
            dropped = True
        self._queue.put_nowait(item)
        return dropped

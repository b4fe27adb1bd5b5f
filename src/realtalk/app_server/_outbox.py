"""A bounded FIFO of encoded messages with one consumer (the transport's writer).

Cheaper than ``asyncio.Queue`` on the hot path (one deque, at most one waiting
reader) and the reader takes everything queued in one call.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Outbox"]


class Outbox:
    """Bounded message queue: producers never block past ``put``'s timeout."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"outbox limit must be positive, got {limit}")
        self._limit = limit
        self._items: deque[bytes] = deque()
        self._reader: asyncio.Future[None] | None = None
        self._writers: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put_nowait(self, data: bytes) -> bool:
        """Queue ``data``; False when the outbox is full or closed."""
        if self._closed or len(self._items) >= self._limit:
            return False
        self._items.append(data)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
        return True

    async def put(self, data: bytes, timeout: float) -> bool:
        """Queue ``data``, waiting up to ``timeout`` seconds for room; False if none came."""
        if self.put_nowait(data):
            return True
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                while not self._closed:
                    waiter: asyncio.Future[None] = loop.create_future()
                    self._writers.append(waiter)
                    try:
                        await waiter
                    finally:
                        if waiter in self._writers:
                            self._writers.remove(waiter)
                    if self.put_nowait(data):
                        return True
        except TimeoutError:
            return False
        return False

    async def get_batch(self) -> list[bytes]:
        """Everything queued (waits for at least one message); ``[]`` once closed and empty."""
        while not self._items:
            if self._closed:
                return []
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        batch = list(self._items)
        self._items.clear()
        self._wake_writers()
        return batch

    def close(self, *, discard: bool = False) -> None:
        """No more puts; the reader drains what is queued (nothing, if ``discard``)."""
        self._closed = True
        if discard:
            self._items.clear()
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)
        self._wake_writers()

    def _wake_writers(self) -> None:
        while self._writers:
            waiter = self._writers.popleft()
            if not waiter.done():
                waiter.set_result(None)

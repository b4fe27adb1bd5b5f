"""A bounded stream of conversation events for one consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from realtalk.conversation._types import ConversationEvent

__all__ = ["SUBSCRIPTION_QUEUE_SIZE", "Subscription"]

SUBSCRIPTION_QUEUE_SIZE = 1024


class Subscription:
    """A bounded stream of conversation events for one consumer.

    Overflow policy: back-pressure. A subscriber that stops reading eventually
    stalls the conversation, so consumers must read or ``close()`` it.
    """

    def __init__(
        self, subscribers: set[Subscription], *, on_close: Callable[[], None] | None = None
    ) -> None:
        self._subscribers = subscribers
        self._on_close = on_close
        self._queue: asyncio.Queue[ConversationEvent | None] = asyncio.Queue(
            SUBSCRIPTION_QUEUE_SIZE
        )
        self._closed = False

    async def put(self, event: ConversationEvent) -> None:
        """Deliver one event (waits while the queue is full)."""
        if self._closed:
            return
        queue = self._queue
        if queue.full():
            await queue.put(event)
        else:
            queue.put_nowait(event)

    async def get(self) -> ConversationEvent:
        """Next event; raises ``StopAsyncIteration`` once closed."""
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def __aiter__(self) -> AsyncIterator[ConversationEvent]:
        return self

    async def __anext__(self) -> ConversationEvent:
        return await self.get()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._subscribers.discard(self)
        if self._on_close is not None:
            self._on_close()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

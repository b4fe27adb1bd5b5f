"""Conversation events out: a bounded stream per consumer, and the fan-out to them all."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from realtalk.conversation._types import ConversationEvent

__all__ = ["SUBSCRIPTION_QUEUE_SIZE", "Sink", "Subscribers", "Subscription"]

SUBSCRIPTION_QUEUE_SIZE = 1024

Sink = Callable[[ConversationEvent], bool]
"""A subscriber's synchronous fast path: True when it took the event at once."""


class Subscription:
    """A bounded stream of conversation events for one consumer.

    Overflow policy: back-pressure. A subscriber that stops reading eventually
    stalls the conversation, so consumers must read or ``close()`` it.

    Every output event of every conversation passes through here, so it is a deque and
    at most one waiter on each side rather than an ``asyncio.Queue`` (about half the
    cost per event): an event that is already waiting is taken without suspending,
    and a reader is woken once however many events arrive before it runs. One task
    reads a subscription; several may put (they wait in turn while it is full).
    """

    def __init__(
        self,
        subscribers: set[Subscription],
        *,
        on_close: Callable[[], None] | None = None,
        sink: Sink | None = None,
    ) -> None:
        """``sink``: takes an event synchronously while the reader waits with nothing
        queued (True: taken; False: it is queued for the reader as usual). Events keep
        their order: once one is queued, the following ones queue behind it."""
        self._subscribers = subscribers
        self._on_close = on_close
        self._sink = sink
        self._events: deque[ConversationEvent] = deque()
        self._reader: asyncio.Future[None] | None = None  # the consumer waits for events
        self._room: deque[asyncio.Future[None]] = deque()  # emitters waiting for room
        self._closed = False

    def __len__(self) -> int:
        """Events delivered and not yet read."""
        return len(self._events)

    def offer(self, event: ConversationEvent) -> bool:
        """Deliver one event if there is room (or drop it once closed); False: ``put`` it."""
        if self._closed:
            return True
        if len(self._events) >= SUBSCRIPTION_QUEUE_SIZE:
            return False
        reader = self._reader
        if reader is not None and not reader.done():
            # Parked: it found nothing queued and holds no event in flight, so an event
            # the sink takes now cannot overtake one the reader has yet to finish.
            sink = self._sink
            if sink is not None and sink(event):
                return True
            self._events.append(event)
            reader.set_result(None)
            return True
        self._events.append(event)
        return True

    async def put(self, event: ConversationEvent) -> None:
        """Deliver one event (waits while ``SUBSCRIPTION_QUEUE_SIZE`` events wait)."""
        while not self._closed and len(self._events) >= SUBSCRIPTION_QUEUE_SIZE:
            room = asyncio.get_running_loop().create_future()
            self._room.append(room)
            try:
                await room
            finally:
                if not room.done():  # cancelled: leave the line
                    self._room.remove(room)
        if self._closed:
            return
        self._events.append(event)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def get(self) -> ConversationEvent:
        """Next event; raises ``StopAsyncIteration`` once closed."""
        events = self._events
        while not events:
            if self._closed:
                raise StopAsyncIteration
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        event = events.popleft()
        if self._room:
            self._room.popleft().set_result(None)
        return event

    def __aiter__(self) -> AsyncIterator[ConversationEvent]:
        return self

    async def __anext__(self) -> ConversationEvent:
        events = self._events
        if events and not self._room:  # get(), without a second coroutine per event
            return events.popleft()
        return await self.get()

    def close(self) -> None:
        """End the stream: waiting events are dropped, the reader stops, a put returns."""
        if self._closed:
            return
        self._closed = True
        self._subscribers.discard(self)
        if self._on_close is not None:
            self._on_close()
        self._events.clear()
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)
        while self._room:
            self._room.popleft().set_result(None)


class Subscribers:
    """Every subscription of one manager: each event goes to all of them, in order.

    An event waits (back-pressure) for a full subscription to make room before it goes
    to the next one; a subscription leaves the set when it is closed.
    """

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self._subs: tuple[Subscription, ...] = ()  # a snapshot to iterate per event

    def subscribe(self, sink: Sink | None = None) -> Subscription:
        sub = Subscription(self._subscribers, on_close=self._changed, sink=sink)
        self._subscribers.add(sub)
        self._changed()
        return sub

    def _changed(self) -> None:
        self._subs = tuple(self._subscribers)

    async def emit(self, event: ConversationEvent) -> None:
        for sub in self._subs:
            if not sub.offer(event):  # full: wait for room (back-pressure)
                await sub.put(event)

    def close(self) -> None:
        """Close every subscription (their readers stop)."""
        for sub in list(self._subscribers):
            sub.close()

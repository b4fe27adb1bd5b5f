"""A subscription's synchronous sink: it takes events only while the reader is parked
with nothing queued, so the reader and the sink together see every event in order."""

from __future__ import annotations

import asyncio

from realtalk.conversation import ConversationEvent, Realtime
from realtalk.conversation._subscription import Subscribers
from realtalk.protocol import OutputTranscriptDelta

TIMEOUT = 5.0


def _event(n: int) -> ConversationEvent:
    return Realtime(OutputTranscriptDelta(str(n)))


def _n(event: ConversationEvent) -> int:
    assert isinstance(event, Realtime) and isinstance(event.payload, OutputTranscriptDelta)
    return int(event.payload.delta)


async def test_the_sink_takes_events_only_while_the_reader_waits_and_order_holds() -> None:
    taken: list[int] = []
    refuse = {2, 3}  # say, the client's outbox was full for these

    def sink(event: ConversationEvent) -> bool:
        n = _n(event)
        if n in refuse:
            return False
        taken.append(n)
        return True

    subs = Subscribers()
    sub = subs.subscribe(sink)
    assert sub.offer(_event(0))  # no reader yet: queued, the sink is not asked
    assert taken == [] and len(sub) == 1

    read: list[int] = []
    parked = asyncio.Event()

    async def reader() -> None:
        while True:
            if not len(sub):
                parked.set()
            read.append(_n(await sub.get()))

    task = asyncio.create_task(reader())
    try:
        async with asyncio.timeout(TIMEOUT):
            await parked.wait()
            parked.clear()
            assert read == [0]
            sub.offer(_event(1))  # parked, nothing queued: the sink takes it
            sub.offer(_event(2))  # refused: queued, the reader is woken
            sub.offer(_event(3))  # the reader has not run yet: queued behind 2
            sub.offer(_event(4))  # the same, though the sink would take it
            await parked.wait()
            parked.clear()
            sub.offer(_event(5))  # parked again: the sink
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert taken == [1, 5]
    assert read == [0, 2, 3, 4]
    assert sorted(taken + read) == list(range(6))


async def test_without_a_sink_every_event_is_read() -> None:
    subs = Subscribers()
    sub = subs.subscribe()
    for n in range(3):
        await subs.emit(_event(n))
    async with asyncio.timeout(TIMEOUT):
        assert [_n(await sub.get()) for _ in range(3)] == [0, 1, 2]

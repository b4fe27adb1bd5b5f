"""A conversation ends cleanly whatever breaks: an unexpected error in the reader, a stop
that runs in cleanup after its caller was cancelled, a wire tap that starts failing."""

from __future__ import annotations

import asyncio

from realtalk.conversation import (
    Closed,
    ConversationEvent,
    ConversationManager,
    Realtime,
    Settings,
    Started,
    StartParams,
    WebSocketTransport,
)
from realtalk.conversation._runtime import ConversationRuntime
from realtalk.protocol import (
    ErrorEvent,
    Mode,
    OutputTranscriptDone,
    ServerEventParser,
    Version,
    realtime_ws_url,
)
from realtalk.transports import RealtimeConnection, connect_realtime
from tests.conftest import EmulatorFactory


async def test_an_unexpected_reader_error_ends_the_conversation() -> None:
    runtime = ConversationRuntime(Version.V2, session_id="s-bug")

    async def broken_join() -> RealtimeConnection:
        raise RuntimeError("a bug in the join")  # not a RealtalkError

    runtime.start_io(broken_join)
    async with asyncio.timeout(5):
        first = await runtime.next_fanout_item()
        end = await runtime.next_fanout_item()
    assert isinstance(first, ErrorEvent) and "a bug in the join" in first.message
    assert end is None  # the stream ended: the fanout emits Closed(error)
    await runtime.stop(send_close=False)


async def test_stop_in_cleanup_after_a_cancel_still_closes_everything(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory()
    url = realtime_ws_url(
        emulator.ws_base_url, version=Version.V2, mode=Mode.CONVERSATIONAL, model="gpt-realtime"
    )
    conn = await connect_realtime(url, {}, ServerEventParser(Version.V2))
    runtime = ConversationRuntime(Version.V2, session_id="s-cancel")
    runtime.conn = conn
    runtime.start_io(None)
    await emulator.wait_for_sessions(1)
    parked = asyncio.Event()

    async def owner() -> None:
        try:
            parked.set()
            await asyncio.Event().wait()
        finally:  # e.g. __aexit__ after Ctrl-C: the task is still "cancelling"
            await runtime.stop(send_close=True)

    task = asyncio.ensure_future(owner())
    await parked.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert conn.closed
    async with asyncio.timeout(5):
        await emulator.sessions[0].closed.wait()  # the server saw the socket go


async def test_a_failing_wire_tap_does_not_end_the_conversation(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory()
    calls = 0

    def tap(direction: str, data: bytes) -> None:
        nonlocal calls
        calls += 1
        raise OSError(28, "No space left on device")

    settings = Settings(api_key="sk-test", base_url=emulator.base_url, startup_context="")
    manager = ConversationManager(settings, tap=tap)
    events: list[ConversationEvent] = []
    answered = asyncio.Event()

    async def collect() -> None:
        async for event in manager.subscribe():
            events.append(event)
            if isinstance(event, Realtime) and isinstance(event.payload, OutputTranscriptDone):
                answered.set()

    collector = asyncio.ensure_future(collect())
    try:
        await manager.start(StartParams(transport=WebSocketTransport()))
        await manager.text_in("still there?")
        await manager.request_response()
        async with asyncio.timeout(10):
            await answered.wait()
    finally:
        await manager.aclose()
        await asyncio.gather(collector, return_exceptions=True)
    assert calls == 1  # the tap was dropped after its first failure
    assert isinstance(events[0], Started)
    assert not any(isinstance(e, Closed) for e in events)
    assert not any(isinstance(e, Realtime) and isinstance(e.payload, ErrorEvent) for e in events)

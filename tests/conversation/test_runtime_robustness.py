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
from realtalk.conversation._runtime import AgentOrder, ConversationRuntime
from realtalk.protocol import (
    FRAME_TOO_DEEP,
    ConversationCore,
    EndReason,
    ErrorEvent,
    Mode,
    OutputTranscriptDone,
    ServerEventParser,
    SessionUpdated,
    Version,
    realtime_ws_url,
)
from realtalk.transports import RealtimeConnection, connect_realtime
from tests._http import DeafServer
from tests.conftest import EmulatorFactory


class _Pump:
    """What a runtime emits and how it ends, without a manager around it."""

    def __init__(self) -> None:
        self.events: list[ConversationEvent] = []
        self.ended: asyncio.Future[EndReason] = asyncio.get_running_loop().create_future()

    async def emit(self, event: ConversationEvent) -> None:
        self.events.append(event)

    async def route(self, runtime: ConversationRuntime, order: AgentOrder) -> None:
        raise AssertionError(f"unexpected agent order {order!r}")

    async def on_end(self, runtime: ConversationRuntime, reason: EndReason) -> None:
        self.ended.set_result(reason)
        await runtime.stop(send_close=False)

    def runtime(self, session_id: str) -> ConversationRuntime:
        runtime = ConversationRuntime(
            ConversationCore(Version.V2),
            session_id=session_id,
            emit=self.emit,
            route=self.route,
            on_end=self.on_end,
        )
        runtime.live.set()
        return runtime


async def test_an_unexpected_reader_error_ends_the_conversation() -> None:
    pump = _Pump()
    runtime = pump.runtime("s-bug")

    async def broken_join() -> RealtimeConnection:
        raise RuntimeError("a bug in the join")  # not a RealtalkError

    runtime.start_io(broken_join)
    async with asyncio.timeout(5):
        reason = await pump.ended
    assert reason == "error"
    (event,) = pump.events
    assert isinstance(event, Realtime) and isinstance(event.payload, ErrorEvent)
    assert "a bug in the join" in event.payload.message
    await runtime.stop(send_close=False)


async def test_stop_in_cleanup_after_a_cancel_still_closes_everything(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory()
    url = realtime_ws_url(
        emulator.ws_base_url, version=Version.V2, mode=Mode.CONVERSATIONAL, model="gpt-realtime"
    )
    conn = await connect_realtime(url, {}, ServerEventParser(Version.V2))
    runtime = _Pump().runtime("s-cancel")
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


async def test_a_frame_nested_1000_deep_is_reported_and_the_conversation_goes_on() -> None:
    # 6 KB that used to end the conversation with a RecursionError in the parser.
    deep = b'{"type":"conversation.item.added","item":{"content":' + b"[" * 1000 + b"]" * 1000
    after = b'{"type":"session.updated","session":{"id":"sess_after"}}'
    async with DeafServer(deep + b"}}", after) as server:
        settings = Settings(
            api_key="sk-test", base_url=f"http://127.0.0.1:{server.port}/v1", startup_context=""
        )
        manager = ConversationManager(settings)
        events: list[ConversationEvent] = []
        survived = asyncio.Event()

        async def collect() -> None:
            async for event in manager.subscribe():
                events.append(event)
                if isinstance(event, Realtime) and isinstance(event.payload, SessionUpdated):
                    survived.set()

        collector = asyncio.ensure_future(collect())
        try:
            await manager.start(StartParams(transport=WebSocketTransport()))
            async with asyncio.timeout(5):
                await survived.wait()
            assert manager.running
        finally:
            await manager.aclose()
            await asyncio.gather(collector, return_exceptions=True)
    errors = [
        e.payload for e in events if isinstance(e, Realtime) and isinstance(e.payload, ErrorEvent)
    ]
    assert [e.code for e in errors] == [FRAME_TOO_DEEP]
    assert not any(isinstance(e, Closed) for e in events)

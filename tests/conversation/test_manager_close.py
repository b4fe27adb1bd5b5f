"""``aclose`` while a start is in flight: the late start must not leave a live conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from realtalk import ConversationNotRunningError
from realtalk.agent import AgentEvent
from realtalk.conversation import (
    AgentActivity,
    Closed,
    ConversationEvent,
    ConversationManager,
    Realtime,
    Settings,
    StartParams,
    Subscription,
    WebRtcTransport,
    WebSocketTransport,
)
from realtalk.protocol import ErrorEvent
from tests._http import DeafServer, serving
from tests.conftest import EmulatorFactory

OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@dataclass
class SlowCalls:
    """A calls endpoint that answers only when released (its sideband never answers)."""

    base_url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def create_call(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrived.set()
        await self.release.wait()
        return web.Response(
            status=201,
            body=b"v=0\r\n",
            headers={"Location": "/v1/realtime/calls/rtc_late", "Content-Type": "application/sdp"},
        )


@pytest.fixture
async def slow_calls() -> AsyncIterator[SlowCalls]:
    state = SlowCalls()
    app = web.Application()
    app.router.add_post("/v1/realtime/calls", state.create_call)
    async with serving(app) as url:
        state.base_url = f"{url}/v1"
        try:
            yield state
        finally:
            state.release.set()


def _live_conversation_tasks(manager: ConversationManager) -> list[str]:
    session = manager.thread_id
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().endswith(session) and not task.done()
    ]


async def test_a_start_that_finishes_after_aclose_leaves_nothing_running(
    slow_calls: SlowCalls,
) -> None:
    manager = ConversationManager(
        Settings(api_key="sk-test", base_url=slow_calls.base_url, startup_context="")
    )
    subscription = manager.subscribe()
    events: list[ConversationEvent] = []

    async def collect() -> None:
        async for event in subscription:
            events.append(event)

    collector = asyncio.ensure_future(collect())
    starting = asyncio.ensure_future(manager.start(StartParams(transport=WebRtcTransport(OFFER))))
    async with asyncio.timeout(10):
        await slow_calls.arrived.wait()  # the start is parked in call creation
    await manager.aclose()
    slow_calls.release.set()
    async with asyncio.timeout(10):
        await starting
        await collector  # aclose ended the subscription
    assert events == []  # no Started/Sdp after aclose
    assert not manager.running
    assert _live_conversation_tasks(manager) == []
    with pytest.raises(ConversationNotRunningError, match="manager is closed"):
        await manager.start(StartParams(transport=WebRtcTransport(OFFER)))


class IdleAgent:
    """A background agent that never works; ``events()`` can be made to fail once."""

    def __init__(self, *, fail_first_stream: bool = False) -> None:
        self.streams = 0
        self.streaming = asyncio.Event()
        self._fail_first = fail_first_stream
        self._stop = asyncio.Event()

    @property
    def busy(self) -> bool:
        return False

    async def submit(self, text: str) -> None:
        del text

    async def events(self) -> AsyncIterator[AgentEvent]:
        self.streams += 1
        if self._fail_first and self.streams == 1:
            raise RuntimeError("agent event stream broke")
        self.streaming.set()
        await self._stop.wait()
        return
        yield  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        self._stop.set()


def _deaf_settings(deaf: DeafServer) -> Settings:
    return Settings(
        api_key="sk-test", base_url=f"http://127.0.0.1:{deaf.port}/v1", startup_context=""
    )


class Events:
    """Collects a manager's events; ``wait_for`` waits (bounded) for a matching one."""

    def __init__(self, manager: ConversationManager) -> None:
        self.seen: list[ConversationEvent] = []
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._collect(manager.subscribe()))

    async def _collect(self, sub: Subscription) -> None:
        async for event in sub:  # ends when the manager's aclose closes it
            self.seen.append(event)
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[ConversationEvent], bool], timeout_s: float = 5.0
    ) -> ConversationEvent:
        async with asyncio.timeout(timeout_s):
            while True:
                for event in self.seen:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()


async def _started(manager: ConversationManager) -> Events:
    events = Events(manager)
    await manager.start(StartParams(transport=WebSocketTransport()))
    assert manager.running
    return events


async def test_a_cancelled_aclose_is_finished_and_awaited_by_the_next_call() -> None:
    agent = IdleAgent()
    async with DeafServer() as deaf:  # never answers the close frame: closing takes 2 s
        manager = ConversationManager(_deaf_settings(deaf), agent=agent)
        await _started(manager)
        async with asyncio.timeout(5):
            await agent.streaming.wait()
        closing = asyncio.ensure_future(manager.aclose())
        async with asyncio.timeout(5):
            await deaf.got_close.wait()  # the teardown is inside the socket close now
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        async with asyncio.timeout(10):
            await manager.aclose()  # waits for the one teardown, which went on
        assert _live_conversation_tasks(manager) == []
        assert not any(
            not task.done()
            for task in asyncio.all_tasks()
            if task.get_name().startswith("realtalk-agent-")
        )


async def test_closed_is_emitted_before_the_slow_socket_close() -> None:
    error = b'{"type":"error","error":{"type":"server_error","message":"boom"}}'
    async with DeafServer(error) as deaf:
        manager = ConversationManager(_deaf_settings(deaf))
        events = await _started(manager)
        await events.wait_for(lambda e: isinstance(e, Closed))
        assert not deaf.lost.is_set()  # Closed came before the (2 s) close handshake
        assert [type(e).__name__ for e in events.seen] == ["Started", "Realtime", "Closed"]
        assert events.seen[-1] == Closed("error")
        await manager.aclose()  # waits for that close to finish
        assert deaf.lost.is_set()


async def test_a_start_that_fails_preflight_keeps_the_running_conversation(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory()
    settings = Settings(api_key="sk-test", base_url=emulator.base_url, startup_context="")
    manager = ConversationManager(settings)
    try:
        events = await _started(manager)
        await manager.start(
            StartParams(transport=WebSocketTransport(), realtime_session_id="bad\nid")
        )
        assert manager.running  # the failed start replaced nothing
        error = await events.wait_for(
            lambda e: isinstance(e, Realtime) and isinstance(e.payload, ErrorEvent)
        )
        assert isinstance(error, Realtime) and isinstance(error.payload, ErrorEvent)
        assert "session id" in error.payload.message
        assert not any(isinstance(e, Closed) for e in events.seen)
    finally:
        await manager.aclose()


async def test_the_agent_pump_restarts_after_its_event_stream_failed(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory()
    settings = Settings(api_key="sk-test", base_url=emulator.base_url, startup_context="")
    agent = IdleAgent(fail_first_stream=True)
    manager = ConversationManager(settings, agent=agent)
    try:
        events = await _started(manager)
        failure = await events.wait_for(lambda e: isinstance(e, AgentActivity))
        assert failure == AgentActivity(
            "failed", "the background agent stopped: agent event stream broke"
        )
        await manager.start(StartParams(transport=WebSocketTransport()))  # a new conversation
        async with asyncio.timeout(5):
            await agent.streaming.wait()  # the pump reads the agent's events again
        assert agent.streams == 2
    finally:
        await manager.aclose()

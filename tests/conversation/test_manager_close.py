"""``aclose`` while a start is in flight: the late start must not leave a live conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from realtalk import ConversationNotRunningError
from realtalk._config import Settings
from realtalk.conversation import (
    ConversationEvent,
    ConversationManager,
    StartParams,
    WebRtcTransport,
)
from tests._http import serving

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

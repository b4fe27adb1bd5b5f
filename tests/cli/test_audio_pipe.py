"""Microphone frames to an app-server are pipelined, not one round trip each.

A hand-written JSON-RPC endpoint on 127.0.0.1 holds its answers back until several
``appendAudio`` requests arrived: a sender that awaited each answer would stall.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from realtalk import RealtalkError
from realtalk.app_server import Client
from realtalk.cli._audio_pipe import AudioPipe
from tests._http import serving

FRAME = bytes(960)  # 20 ms of pcm24k


@dataclass
class HoldingServer:
    """Answers ``appendAudio`` only once ``hold`` of them arrived (then at once)."""

    hold: int
    error_for: int | None = None  # answer this request index with an error
    bad_result_for: int | None = None  # answer this one with a result of the wrong shape
    received: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_received(self, count: int) -> None:
        while len(self.received) < count:
            self.changed.clear()
            await self.changed.wait()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        pending: list[dict[str, Any]] = []
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            self.received.append(frame)
            self.changed.set()
            pending.append(frame)
            if len(self.received) < self.hold:
                continue
            for held in pending:
                index = self.received.index(held)
                if index == self.error_for:
                    answer: dict[str, Any] = {
                        "id": held["id"],
                        "error": {"code": -32600, "message": "thread not found"},
                    }
                elif index == self.bad_result_for:
                    answer = {"id": held["id"], "result": [1, 2, 3]}
                else:
                    answer = {"id": held["id"], "result": {}}
                await ws.send_str(json.dumps(answer))
            pending.clear()
        return ws


async def _client(server: HoldingServer) -> AsyncIterator[Client]:
    app = web.Application()
    app.router.add_get("/", server.handle)
    async with serving(app) as url:
        client = await Client.connect(url.replace("http://", "ws://"))
        try:
            yield client
        finally:
            await client.aclose()


@pytest.fixture
async def held() -> AsyncIterator[tuple[HoldingServer, Client]]:
    server = HoldingServer(hold=5)
    async for client in _client(server):
        yield server, client


async def test_frames_go_out_without_waiting_for_each_answer(
    held: tuple[HoldingServer, Client],
) -> None:
    server, client = held
    pipe = AudioPipe(client, "thr_1")
    async with asyncio.timeout(5):
        for _ in range(5):
            await pipe.send(FRAME)  # would wait forever for the first answer if serial
        await pipe.drain()
    assert [f["method"] for f in server.received] == ["thread/realtime/appendAudio"] * 5
    ids = [f["id"] for f in server.received]
    assert ids == sorted(ids)  # in order
    await pipe.aclose()


async def test_the_window_bounds_what_is_in_flight(held: tuple[HoldingServer, Client]) -> None:
    server, client = held
    pipe = AudioPipe(client, "thr_1", window=3)
    for _ in range(3):
        await pipe.send(FRAME)
    fourth = asyncio.ensure_future(pipe.send(FRAME))
    async with asyncio.timeout(5):
        await server.wait_received(3)
    assert not fourth.done()  # the window is full: the fourth waits
    fourth.cancel()
    await asyncio.gather(fourth, return_exceptions=True)
    await pipe.aclose()


async def test_a_refused_frame_is_reported_on_the_next_send() -> None:
    server = HoldingServer(hold=1, error_for=0)
    async for client in _client(server):
        pipe = AudioPipe(client, "thr_gone")
        await pipe.send(FRAME)
        with pytest.raises(RealtalkError, match="thread not found"):
            async with asyncio.timeout(5):
                await pipe.drain()
        with pytest.raises(RealtalkError, match="thread not found"):
            await pipe.send(FRAME)
        await pipe.aclose()


async def test_an_answer_that_does_not_decode_is_a_failure_too() -> None:
    server = HoldingServer(hold=1, bad_result_for=0)
    async for client in _client(server):
        pipe = AudioPipe(client, "thr_1")
        await pipe.send(FRAME)
        with pytest.raises(RealtalkError):
            async with asyncio.timeout(5):
                await pipe.drain()
        await pipe.aclose()

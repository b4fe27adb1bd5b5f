"""One-attempt transport functions against hand-written loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from realtalk import (
    ConnectError,
    HandshakeError,
    ProtocolError,
    TransportClosedError,
    TransportError,
)
from realtalk.agent._transport import (
    ModelResponseError,
    TurnStateCell,
    connect_websocket,
    http_stream,
    is_retryable,
    is_upgrade_required,
    ws_stream,
)
from realtalk.protocol.responses import (
    ERR_BINARY_FRAME,
    ERR_CLOSED_BY_SERVER,
    ERR_IDLE_TIMEOUT,
    ERR_STREAM_CLOSED,
    ResponseCompleted,
    ResponsesEvent,
)

from ._responses_support import serve_app

Behaviour = Callable[[web.WebSocketResponse], Awaitable[None]]
COMPLETED = '{"type":"response.completed","response":{"id":"resp-7"}}'


@asynccontextmanager
async def ws_server(behaviour: Behaviour, *, turn_state: str | None = None) -> AsyncIterator[str]:
    """A WebSocket server that waits for one frame, then runs ``behaviour``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        if turn_state is not None:
            ws.headers["x-codex-turn-state"] = turn_state
        await ws.prepare(request)
        await ws.receive()
        await behaviour(ws)
        return ws

    app = web.Application()
    app.router.add_get("/v1/responses", handler)
    async with serve_app(app) as origin:
        yield origin.replace("http://", "ws://") + "/v1/responses"


async def run(
    url: str, *, idle: float = 5.0, cell: TurnStateCell | None = None
) -> list[ResponsesEvent]:
    ws = await connect_websocket(url, {}, cell, connect_timeout_s=5.0, max_message_bytes=1 << 20)
    try:
        return [e async for e in ws_stream(ws, b'{"type":"response.create"}', idle_timeout_s=idle)]
    finally:
        await ws.aclose()


async def test_unknown_events_are_ignored_and_completed_ends_the_stream() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.send_str('{"type":"response.brand_new","x":1}')
        await ws.send_str("{broken")
        await ws.send_str('{"type":"response.output_text.delta","delta":"hi"}')
        await ws.send_str(COMPLETED)
        await ws.send_str('{"type":"response.output_text.delta","delta":"late"}')

    cell = TurnStateCell()
    async with ws_server(behaviour, turn_state="ts-9") as url:
        events = await run(url, cell=cell)
    assert [type(e).__name__ for e in events] == ["OutputTextDelta", "ResponseCompleted"]
    assert isinstance(events[-1], ResponseCompleted) and events[-1].response.id == "resp-7"
    assert cell.value == "ts-9"


async def test_binary_frame_is_an_error() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.send_bytes(b"\x00\x01")
        await ws.receive()

    async with ws_server(behaviour) as url:
        with pytest.raises(ProtocolError, match=f"^{ERR_BINARY_FRAME}$"):
            await run(url)


async def test_close_by_server_before_completed() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.send_str('{"type":"response.created","response":{"id":"r"}}')
        await ws.close()

    async with ws_server(behaviour) as url:
        with pytest.raises(TransportClosedError, match=f"^{ERR_CLOSED_BY_SERVER}$"):
            await run(url)


async def test_a_socket_the_server_closed_after_a_response_is_not_reused() -> None:
    # The client reads nothing between requests: the server's close frame waits unread
    # in the socket's queue, and the socket must not be taken for the next request.
    closed = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=0.1)  # how long close() waits for the answer
        await ws.prepare(request)
        await ws.receive()
        await ws.send_str(COMPLETED)
        await ws.close()
        closed.set()
        return ws

    app = web.Application()
    app.router.add_get("/v1/responses", handler)
    async with serve_app(app) as origin:
        url = origin.replace("http://", "ws://") + "/v1/responses"
        ws = await connect_websocket(url, {}, None, connect_timeout_s=5, max_message_bytes=1024)
        try:
            assert ws.reusable
            events = [e async for e in ws_stream(ws, b"{}", idle_timeout_s=5)]
            assert isinstance(events[-1], ResponseCompleted)
            async with asyncio.timeout(5):
                await closed.wait()
            assert not ws.reusable
        finally:
            await ws.aclose()


async def test_idle_timeout() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.receive()  # silent until the client gives up and closes

    async with ws_server(behaviour) as url:
        with pytest.raises(TransportError, match=f"^{ERR_IDLE_TIMEOUT}$"):
            await run(url, idle=0.2)


async def test_failed_response_is_raised_with_retry_classification() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.send_str(
            '{"type":"response.failed","response":{"id":"r","error":'
            '{"code":"context_length_exceeded","message":"too long"}}}'
        )
        await ws.receive()

    async with ws_server(behaviour) as url:
        with pytest.raises(ModelResponseError, match="too long") as info:
            await run(url)
    assert info.value.code == "context_length_exceeded"
    assert not is_retryable(info.value)


@pytest.mark.parametrize(
    ("frame", "retryable"),
    [
        ('{"type":"error","status":400,"error":{"code":"previous_response_not_found"}}', True),
        ('{"type":"error","status":400,"error":{"code":"invalid_request","message":"bad"}}', False),
        ('{"type":"error","status":503,"error":{"message":"overloaded"}}', True),
        ('{"type":"response.incomplete","response":{"incomplete_details":{"reason":"x"}}}', False),
    ],
)
async def test_error_frames(frame: str, *, retryable: bool) -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.send_str(frame)
        await ws.receive()

    async with ws_server(behaviour) as url:
        with pytest.raises(ModelResponseError) as info:
            await run(url)
    assert is_retryable(info.value) is retryable


async def test_handshake_refusal_carries_status() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=426, text="no websockets here")

    app = web.Application()
    app.router.add_get("/v1/responses", handler)
    async with serve_app(app) as origin:
        url = origin.replace("http://", "ws://") + "/v1/responses"
        with pytest.raises(HandshakeError) as info:
            await connect_websocket(url, {}, None, connect_timeout_s=5.0, max_message_bytes=1024)
    assert info.value.status == 426 and "no websockets" in info.value.body
    assert is_upgrade_required(info.value)


async def test_connect_timeout_when_server_never_answers() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(
            ConnectError, match=r"timed out after 0.2s \(connect_timeout_s / --connect-timeout\)"
        ):
            await connect_websocket(
                f"ws://127.0.0.1:{port}/v1/responses",
                {},
                None,
                connect_timeout_s=0.2,
                max_message_bytes=1024,
            )
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_connection_refused_is_a_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectError, match="could not connect"):
        await connect_websocket(
            f"ws://127.0.0.1:{port}/x", {}, None, connect_timeout_s=2.0, max_message_bytes=1024
        )


async def test_sse_stream_ending_early_and_error_status() -> None:
    async def early_end(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"type":"response.created","response":{"id":"r"}}\n\n')
        await response.write_eof()
        return response

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    app = web.Application()
    app.router.add_post("/early", early_end)
    app.router.add_post("/refuse", refuse)
    async with serve_app(app) as origin, aiohttp.ClientSession() as http:
        cell = TurnStateCell()
        with pytest.raises(TransportClosedError, match=f"^{ERR_STREAM_CLOSED}$"):
            async for _ in http_stream(
                http, f"{origin}/early", b"{}", {}, cell, connect_timeout_s=5, idle_timeout_s=5
            ):
                pass
        with pytest.raises(HandshakeError) as info:
            async for _ in http_stream(
                http, f"{origin}/refuse", b"{}", {}, cell, connect_timeout_s=5, idle_timeout_s=5
            ):
                pass
    assert info.value.status == 503 and info.value.body == "busy"
    assert is_retryable(info.value)


def test_turn_state_cell_is_write_once() -> None:
    cell = TurnStateCell()
    assert not cell.set_once(None) and not cell.set_once("")
    assert cell.set_once("ts-1")
    assert not cell.set_once("ts-2")
    assert cell.value == "ts-1"


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (HandshakeError("x", status=500), True),
        (HandshakeError("x", status=429), True),
        (HandshakeError("x", status=401), False),
        (HandshakeError("x", status=400), False),
        (ConnectError("x"), True),
        (TransportClosedError("x"), True),
        (ProtocolError("x"), True),
        (ModelResponseError("x", retryable=False), False),
    ],
)
def test_retry_classification(error: Exception, *, retryable: bool) -> None:
    assert is_retryable(error) is retryable

"""The realtime WebSocket adapter against a real loopback server (reference 9.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers

from realtalk import ConnectError, HandshakeError, TransportClosedError
from realtalk.protocol import ErrorEvent, ServerEventParser, SessionUpdated, Version
from realtalk.transports import RealtimeConnection, connect_realtime


class Peer:
    """A scripted server: records what it receives, sends what the test tells it."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.to_send: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.headers: Headers = Headers()

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.headers = ws.request.headers

        async def reader() -> None:
            async for message in ws:
                await self.received.put(message)

        task = asyncio.ensure_future(reader())
        try:
            while (item := await self.to_send.get()) is not None:
                await ws.send(item)
            await ws.close()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def peer() -> AsyncIterator[tuple[Peer, str]]:
    p = Peer()
    server: Server = await serve(p.handler, "127.0.0.1", 0, compression=None)
    port = next(iter(server.sockets)).getsockname()[1]
    try:
        yield p, f"ws://127.0.0.1:{port}/v1/realtime"
    finally:
        server.close()
        await p.to_send.put(None)
        async with asyncio.timeout(5):
            await server.wait_closed()


async def _connect(url: str) -> RealtimeConnection:
    return await connect_realtime(
        url, {"Authorization": "Bearer sk-secret"}, ServerEventParser(Version.V2)
    )


async def test_send_does_not_block_while_next_event_waits_for_inbound_data(
    peer: tuple[Peer, str],
) -> None:
    server, url = peer
    conn = await _connect(url)
    pending = asyncio.ensure_future(conn.next_event())
    async with asyncio.timeout(2):
        await conn.send({"type": "response.create"})
        assert msgspec.json.decode(await server.received.get()) == {"type": "response.create"}
    assert not pending.done()
    await server.to_send.put('{"type":"session.updated","session":{"id":"sess_1"}}')
    async with asyncio.timeout(2):
        event = await pending
    assert event == SessionUpdated("sess_1")
    assert server.headers["Authorization"] == "Bearer sk-secret"
    await conn.aclose()


async def test_disconnect_is_reported_once_and_stays_ended(peer: tuple[Peer, str]) -> None:
    server, url = peer
    conn = await _connect(url)
    await server.to_send.put(None)
    async with asyncio.timeout(2):
        assert await conn.next_event() is None
        assert await conn.next_event() is None
    with pytest.raises(TransportClosedError):
        for _ in range(3):  # the close may need a round trip to be noticed by send
            await conn.send({"type": "response.create"})
            await asyncio.sleep(0)
    await conn.aclose()
    await conn.aclose()  # idempotent


async def test_unknown_and_malformed_text_events_are_skipped(peer: tuple[Peer, str]) -> None:
    server, url = peer
    conn = await _connect(url)
    for frame in ('{"type":"some.future.event"}', "not json", '{"no":"type"}'):
        await server.to_send.put(frame)
    await server.to_send.put('{"type":"session.updated","session":{"id":"s2"}}')
    await server.to_send.put(b"\x00\x01")
    async with asyncio.timeout(2):
        assert await conn.next_event() == SessionUpdated("s2")
        assert await conn.next_event() == ErrorEvent("unexpected binary realtime websocket event")
    await conn.aclose()


async def test_writer_after_close_raises_typed_error(peer: tuple[Peer, str]) -> None:
    _, url = peer
    conn = await _connect(url)
    await conn.aclose()
    with pytest.raises(TransportClosedError, match="realtime websocket connection is closed"):
        await conn.send({"type": "response.create"})


async def test_refused_connection_is_a_connect_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectError, match="could not connect to the realtime server") as info:
        await _connect(f"ws://127.0.0.1:{port}/v1/realtime")
    assert "sk-secret" not in str(info.value)


async def test_http_refusal_is_a_handshake_error_with_status() -> None:
    from aiohttp import web

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "bad key"}}, status=401)

    app = web.Application()
    app.router.add_get("/v1/realtime", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with pytest.raises(HandshakeError, match="HTTP 401: bad key") as info:
            await _connect(f"ws://127.0.0.1:{port}/v1/realtime")
        assert info.value.status == 401
    finally:
        await runner.cleanup()


async def test_a_refusal_body_sent_after_the_headers_is_still_shown() -> None:
    # Headers and body in two writes (as a TLS front end may send them): the whole
    # body must reach the message, not only what came with the headers.
    body = b'{"error":{"message":"Incorrect API key provided: sk-s***et"}}'
    headers_sent = asyncio.Event()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        await writer.drain()
        headers_sent.set()
        await asyncio.sleep(0.05)  # a separate segment; the client must wait for it
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(HandshakeError) as info:
            await _connect(f"ws://127.0.0.1:{port}/v1/realtime")
    finally:
        server.close()
        await server.wait_closed()
    assert headers_sent.is_set()
    assert info.value.status == 401
    assert str(info.value).endswith("HTTP 401: Incorrect API key provided: sk-s***et")

"""Listener rules: loopback by default, bearer token, Origin allow-list, health checks,
bad WebSocket frames, and the slow-client policy."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec
import pytest

from realtalk import ConfigError, HandshakeError
from realtalk.app_server import AppServer, Client, ConnectionLimits, EmptyResult
from realtalk.app_server._connection import Connection
from realtalk.app_server._server import is_loopback_host, parse_listen_url
from realtalk.app_server._websocket import text_frame

from .conftest import (
    Backend,
    ClientFactory,
    ServerFactory,
    make_settings,
    pcm_b64,
    start_realtime,
)

TOKEN = "s3cret-token"


def _http(url: str) -> str:
    return url.replace("ws://", "http://", 1)


async def test_readyz_and_healthz_refuse_browsers(server: AppServer) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/readyz", "/healthz"):
            async with http.get(_http(server.url) + path) as ok:
                assert ok.status == 200
            async with http.get(
                _http(server.url) + path, headers={"Origin": "http://localhost:3000"}
            ) as browser:
                assert browser.status == 403


async def test_bearer_token_is_required_when_configured(
    backend: Backend, server_factory: ServerFactory, client_factory: ClientFactory
) -> None:
    server = await server_factory(make_settings(backend.base_url), auth_token=TOKEN)
    for token in (None, "wrong-token"):
        with pytest.raises(HandshakeError) as refused:
            await client_factory(server.url, token=token)
        assert refused.value.status == 401
        assert TOKEN not in str(refused.value)
    client = await client_factory(server.url, token=TOKEN)
    assert (await client.thread_start()).thread.id


async def test_browser_origins_must_be_allowed(
    backend: Backend, server_factory: ServerFactory, client_factory: ClientFactory
) -> None:
    allowed = "http://localhost:3000"
    server = await server_factory(make_settings(backend.base_url), allowed_origins=(allowed,))
    with pytest.raises(HandshakeError) as refused:
        await client_factory(server.url, origin="http://evil.example")
    assert refused.value.status == 403
    client = await client_factory(server.url, origin=allowed)
    assert (await client.list_voices()).default_v2 == "marin"
    client_without_origin = await client_factory(server.url)  # not a browser
    assert (await client_without_origin.thread_start()).thread.id


async def test_non_loopback_bind_requires_a_token(backend: Backend) -> None:
    server = AppServer(make_settings(backend.base_url))
    try:
        with pytest.raises(ConfigError, match="requires --auth-token"):
            await server.start_websocket("0.0.0.0", 0)
    finally:
        await server.aclose()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, *, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_listen_urls() -> None:
    assert parse_listen_url("stdio://") is None
    assert parse_listen_url("ws://127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen_url("ws://[::1]:8765") == ("::1", 8765)
    for bad in ("http://127.0.0.1:1", "ws://127.0.0.1", "ws://127.0.0.1:1/path", "tcp://x"):
        with pytest.raises(ConfigError, match="--listen"):
            parse_listen_url(bad)


async def test_binary_and_oversized_frames_get_errors_and_the_connection_survives(
    server: AppServer,
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(server.url) as ws:
        await ws.send_bytes(b'{"id":1,"method":"initialize"}')
        error = msgspec.json.decode(await ws.receive_str())
        assert error["id"] is None and error["error"]["code"] == -32600
        assert "binary frames are not supported" in error["error"]["message"]
        await ws.send_str('{"id":2,"method":"x","pad":"' + "p" * (8 * 1024 * 1024) + '"}')
        error = msgspec.json.decode(await ws.receive_str())
        assert error["error"]["code"] == -32600 and "exceeds" in error["error"]["message"]
        await ws.send_str("{broken")
        error = msgspec.json.decode(await ws.receive_str())
        assert error["error"]["code"] == -32700
        await ws.send_str('{"id":3,"method":"initialize","params":{"clientInfo":{"name":"raw"}}}')
        answer = msgspec.json.decode(await ws.receive_str())
        assert answer["id"] == 3 and answer["result"]["userAgent"].startswith("raw/")


async def test_slow_client_is_disconnected_not_silently_dropped() -> None:
    conn = Connection("slow", ConnectionLimits(outbound_queue_size=2, slow_client_timeout_s=0.05))
    conn.initialized = True
    for _ in range(2):
        await conn.respond(1, _empty())
    assert not conn.aborted.is_set()
    await conn.respond(2, _empty())  # nobody drains the queue: the client is too slow
    assert conn.aborted.is_set()
    assert "did not read 2 pending messages" in conn.abort_reason
    await conn.aclose()
    drained = [data async for data in conn.outgoing()]
    assert drained == []  # closing a dead client's full queue frees it


async def test_connection_outgoing_keeps_order_and_ends_on_close() -> None:
    conn = Connection("ordered")
    for rid in range(3):
        await conn.respond(rid, _empty())
    await conn.aclose()
    received = [msgspec.json.decode(data)["id"] async for data in conn.outgoing()]
    assert received == [0, 1, 2]
    async with asyncio.timeout(1):
        await conn.aclose()  # idempotent


def _empty() -> msgspec.Struct:
    return EmptyResult()


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_coalesced_text_frames_follow_rfc6455(size: int, header: bytes) -> None:
    payload = b"x" * size
    assert text_frame(payload) == header + payload


async def test_many_notifications_in_one_burst_arrive_intact(
    client: Client, backend: Backend
) -> None:
    # A burst of output audio makes the writer coalesce frames; every one must parse.
    thread_id, record = await start_realtime(client, backend)
    mark = client.notification_count
    for i in range(200):
        await record.send_event(
            {"type": "response.output_audio.delta", "item_id": f"item_{i}", "delta": pcm_b64(20, i)}
        )
    deltas = await client.wait_for_count("thread/realtime/outputAudio/delta", 200, start=mark)
    assert [d.params.audio.item_id for d in deltas] == [f"item_{i}" for i in range(200)]
    assert all(d.params.thread_id == thread_id for d in deltas)

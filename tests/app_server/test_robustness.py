"""Hostile or broken peers: deep JSON, failing frames, slow readers, shutdown, bad cwd."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import select
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from realtalk.agent import AgentEvent, BackgroundAgent
from realtalk.app_server import (
    AppServer,
    AppServerOptions,
    Client,
    ConnectionLimits,
    Notification,
    RpcError,
    ThreadConfig,
    ThreadStartParams,
)
from realtalk.app_server._connection import Connection, RequestError
from realtalk.app_server._stdio import run_stream_connection
from realtalk.app_server._websocket import text_frame
from realtalk.conversation import Settings

from .conftest import API_KEY, TIMEOUT, make_settings

DEAD_URL = "http://127.0.0.1:9/v1"
DEEP = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":' + b"[" * 3000 + b"]" * 3000 + b"}"
BOOM = "thr_boom"


def _settings() -> Settings:
    return make_settings(DEAD_URL)


async def _null_id_error(client: Client, data: bytes) -> tuple[int, str]:
    before = len(client.unmatched)
    await client.send_raw(data)
    await client.wait_for_unmatched(before + 1, timeout=TIMEOUT)
    assert len(client.unmatched) == before + 1
    error = client.unmatched[before]
    return error.code, error.message


@contextlib.asynccontextmanager
async def _session(server: AppServer, **kwargs: Any) -> AsyncIterator[Client]:
    """A client of ``server`` over WebSocket; both closed on exit."""
    try:
        client = await Client.connect(await server.start_websocket(), **kwargs)
        try:
            yield client
        finally:
            await client.aclose()
    finally:
        await server.aclose()


# ------------------------------------------------------------------ deep nesting


async def test_deeply_nested_line_over_stdio_is_answered_and_the_next_works(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": DEAD_URL}
    async with await Client.spawn(env=env, cwd=str(tmp_path)) as client:
        code, message = await _null_id_error(client, DEEP)
        assert code == -32700 and "nested too deeply" in message
        result = await client.initialize("after_deep")
        assert result.user_agent.startswith("after_deep/")


async def test_deeply_nested_frame_over_websocket_keeps_the_connection(tmp_path: Path) -> None:
    async with _session(AppServer(_settings(), AppServerOptions(default_cwd=tmp_path))) as client:
        code, _ = await _null_id_error(client, DEEP)
        assert code == -32700
        await client.initialize("after_deep")
        deep_params = b"[" * 3000 + b"]" * 3000
        frame = b'{"id":7,"method":"thread/start","params":{"cwd":' + deep_params + b"}}"
        code, _ = await _null_id_error(client, frame)
        assert code == -32700
        assert (await client.thread_start()).thread.id
        assert not client.closed.is_set()


# ------------------------------------------------ a frame whose handling fails


class _FailingRouteServer(AppServer):
    """Routing to thread ``BOOM`` raises: a stand-in for any bug in frame handling."""

    def new_connection(self, name: str) -> Connection:
        conn = super().new_connection(name)
        route = conn.route
        assert route is not None

        async def failing(
            thread_id: str, method: str, job: Callable[[], Awaitable[None]]
        ) -> RequestError | None:
            if thread_id == BOOM:
                raise RuntimeError("routing bug")
            return await route(thread_id, method, job)

        conn.route = failing
        return conn


BAD_FRAME = (
    b'{"id":999,"method":"thread/realtime/stop","params":{"threadId":"' + BOOM.encode() + b'"}}'
)


async def test_failing_websocket_frame_gets_no_answer_and_the_connection_survives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = _FailingRouteServer(_settings(), AppServerOptions(default_cwd=tmp_path))
    async with _session(server) as client:
        await client.initialize("x", experimental_api=True)
        with caplog.at_level(logging.ERROR, logger="realtalk.app_server"):
            await client.send_raw(BAD_FRAME)
            voices = await client.list_voices()  # answered after the bad frame
        assert voices.v1
        assert client.unmatched == []  # the failed frame got no answer
        assert "frame handling failed" in caplog.text
        assert not client.closed.is_set()


async def test_failing_stdio_line_gets_no_answer_and_the_connection_survives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = _FailingRouteServer(_settings(), AppServerOptions(default_cwd=tmp_path))
    conn = server.new_connection("stdio-test")
    lines = [
        b'{"id":1,"method":"initialize","params":{"clientInfo":{"name":"x"},'
        b'"capabilities":{"experimentalApi":true}}}',
        BAD_FRAME,
        b'{"id":2,"method":"thread/realtime/listVoices"}',
    ]

    async def chunks() -> AsyncIterator[bytes]:
        yield b"\n".join(lines) + b"\n"

    written: list[bytes] = []

    async def write(data: bytes) -> None:
        written.append(data)

    with caplog.at_level(logging.ERROR, logger="realtalk.app_server"):
        async with asyncio.timeout(TIMEOUT):
            await run_stream_connection(conn, chunks(), write)
    await server.aclose()
    answers = [msgspec.json.decode(line) for line in b"".join(written).splitlines()]
    assert [a["id"] for a in answers] == [1, 2]
    assert "result" in answers[1]
    assert "line handling failed" in caplog.text


# ----------------------------------------------------------------- closing


class _SlowCloseAgent:
    """An agent whose close takes a while (a model client that is slow to stop)."""

    instances: list[_SlowCloseAgent] = []

    def __init__(self) -> None:
        self.busy = False
        self.closing = asyncio.Event()
        self.closed = False
        self._events: asyncio.Queue[AgentEvent] = asyncio.Queue()
        self.instances.append(self)

    async def submit(self, text: str) -> None:
        del text

    async def events(self) -> AsyncIterator[AgentEvent]:
        while True:
            yield await self._events.get()

    async def aclose(self) -> None:
        self.closing.set()
        await asyncio.sleep(0.3)  # the slow part of closing, not synchronisation
        self.closed = True


def _slow_agents(settings: Settings, config: ThreadConfig) -> BackgroundAgent:
    del settings, config
    return _SlowCloseAgent()


async def _connection_with_thread(server: AppServer) -> tuple[Connection, _SlowCloseAgent]:
    conn = server.new_connection("direct")
    await conn.receive(b'{"id":1,"method":"initialize","params":{"clientInfo":{"name":"x"}}}')
    await conn.receive(b'{"id":2,"method":"thread/start","params":{}}')
    answers = [msgspec.json.decode(m) for m in await conn.next_batch()]
    assert [a.get("id") for a in answers][:2] == [1, 2] and "result" in answers[1]
    return conn, _SlowCloseAgent.instances[-1]


async def test_a_second_close_waits_for_the_first(tmp_path: Path) -> None:
    options = AppServerOptions(default_cwd=tmp_path, agent_factory=_slow_agents)
    server = AppServer(_settings(), options)
    conn, agent = await _connection_with_thread(server)
    first = asyncio.create_task(conn.aclose())
    async with asyncio.timeout(TIMEOUT):
        await agent.closing.wait()
        await conn.aclose()  # a concurrent close: returns only once the thread closed
    assert agent.closed and conn.closed
    await first
    await server.aclose()


async def test_server_aclose_returns_after_closing_connections_are_closed(tmp_path: Path) -> None:
    options = AppServerOptions(default_cwd=tmp_path, agent_factory=_slow_agents)
    server = AppServer(_settings(), options)
    conn, agent = await _connection_with_thread(server)
    transport_close = asyncio.create_task(conn.aclose())  # as a transport would
    async with asyncio.timeout(TIMEOUT):
        await agent.closing.wait()
        await server.aclose()
    assert agent.closed
    assert transport_close.done()
    assert server.connections == set()


# ------------------------------------------------------------- slow reader


def _wait_for_peer_close(sock: socket.socket, timeout_s: float) -> bool:
    """True once the peer closed or reset the connection (unread data does not count)."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLRDHUP)
    return bool(poller.poll(int(timeout_s * 1000)))


def _masked_text_frame(payload: bytes) -> bytes:
    frame = bytearray(text_frame(payload))
    frame[1] |= 0x80
    header, body = bytes(frame[: len(frame) - len(payload)]), payload
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body))


async def test_slow_websocket_reader_is_dropped_at_the_tcp_level(tmp_path: Path) -> None:
    limits = ConnectionLimits(outbound_queue_size=16, slow_client_timeout_s=0.5)
    server = AppServer(_settings(), AppServerOptions(default_cwd=tmp_path), limits=limits)
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)  # noqa: FBT003 (stdlib signature)
    flood: asyncio.Task[None] | None = None
    try:
        url = await server.start_websocket()
        await loop.sock_connect(sock, ("127.0.0.1", int(url.rsplit(":", 1)[1])))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(
            sock,
            f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
        )
        head = b""
        async with asyncio.timeout(TIMEOUT):
            while b"\r\n\r\n" not in head:
                head += await loop.sock_recv(sock, 1)
        assert head.startswith(b"HTTP/1.1 101")
        init = b'{"id":0,"method":"initialize","params":{"clientInfo":{"name":"x"}}}'
        requests = (
            b'{"id":%d,"method":"thread/realtime/listVoices"}' % i for i in range(1, 40_000)
        )
        # Many requests and never a read: the answers pile up until the server gives up.
        payload = _masked_text_frame(init) + b"".join(map(_masked_text_frame, requests))
        flood = asyncio.create_task(loop.sock_sendall(sock, payload))
        dropped = await asyncio.to_thread(_wait_for_peer_close, sock, TIMEOUT)
        assert dropped, "the server kept the slow client's TCP connection open"
    finally:
        if flood is not None:
            flood.cancel()
            await asyncio.gather(flood, return_exceptions=True)
        sock.close()
        await server.aclose()


# ---------------------------------------------------------------------- client


async def test_client_request_times_out_while_the_server_does_not_read() -> None:
    never_reads = [sys.executable, "-c", "import time; time.sleep(60)"]
    client = await Client.spawn(never_reads)
    try:
        async with asyncio.timeout(TIMEOUT):  # the guard: the request's own timeout must fire
            with pytest.raises(TimeoutError):
                await client.request_raw(
                    "thread/realtime/appendText",
                    {"threadId": "t", "text": "x" * 1_000_000},
                    timeout=0.5,
                )
    finally:
        assert client.process is not None
        client.process.kill()
        await client.aclose()


async def test_failing_notification_callback_is_logged_and_the_client_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def callback(notification: Notification) -> None:
        seen.append(notification.method)
        if notification.method == "thread/started":
            raise ValueError("bug in the callback")

    server = AppServer(_settings(), AppServerOptions(default_cwd=tmp_path))
    async with _session(server, on_notification=callback) as client:
        await client.initialize("x", experimental_api=True)
        with caplog.at_level(logging.ERROR, logger="realtalk.app_server"):
            await client.thread_start()
            await client.wait_for("thread/started")
            voices = await client.list_voices()
        assert voices.v1
        assert seen == ["thread/started"]
        assert not client.closed.is_set()
        assert "bug in the callback" in caplog.text


# ------------------------------------------------------------------------ cwd


@pytest.mark.parametrize("cwd", ["~nosuchuser-realtalk/x", "d" * 5000, "a\x00b"])
async def test_unusable_cwd_is_an_invalid_request(
    tmp_path: Path, cwd: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with _session(AppServer(_settings(), AppServerOptions(default_cwd=tmp_path))) as client:
        await client.initialize("x")
        with caplog.at_level(logging.ERROR), pytest.raises(RpcError) as caught:
            await client.thread_start(ThreadStartParams(cwd=cwd))
        assert caught.value.code == -32600
        assert "cwd" in caught.value.rpc_message
        assert len(caught.value.rpc_message) < 600
        assert "Traceback" not in caplog.text
        assert (await client.thread_start()).thread.id  # the connection still works


# ------------------------------------------------------------------ thread cap


async def test_the_thread_cap_of_a_connection_is_a_setting(tmp_path: Path) -> None:
    limits = ConnectionLimits(max_threads=3)
    server = AppServer(_settings(), AppServerOptions(default_cwd=tmp_path), limits=limits)
    async with _session(server) as client:
        await client.initialize("cap_test", experimental_api=True)
        for _ in range(3):
            await client.thread_start()
        with pytest.raises(RpcError, match=r"already has 3 threads \(the limit\).*--max-threads"):
            await client.thread_start()


def test_the_default_thread_cap_holds_the_benchmark_load() -> None:
    # bench app-server runs 500 realtime threads on one connection.
    assert ConnectionLimits().max_threads >= 500


def test_the_thread_cap_is_an_app_server_option() -> None:
    import argparse

    from realtalk.app_server import add_app_server_arguments

    parser = argparse.ArgumentParser()
    add_app_server_arguments(parser)
    assert parser.parse_args([]).max_threads == ConnectionLimits().max_threads
    assert parser.parse_args(["--max-threads", "2000"]).max_threads == 2000
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-threads", "0"])

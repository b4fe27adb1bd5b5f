"""The realtime and Responses WebSockets through a real HTTP CONNECT proxy on loopback, over wss.

The proxy is a small asyncio tunnel: it reads ``CONNECT host:port``, records the
request, answers 200 and pipes bytes both ways; TLS runs end to end through it, so the
emulator's certificate is checked against ``REALTALK_CA_CERTIFICATE`` as usual.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import pytest

from realtalk import ConnectError
from realtalk.agent import ModelClient, ModelClientOptions, Prompt
from realtalk.emulator import Emulator, EmulatorOptions
from realtalk.protocol import ServerEventParser, SessionUpdated, Version
from realtalk.protocol.responses import user_message
from realtalk.tls import reset_cache
from realtalk.transports import connect_realtime

TIMEOUT = 10.0


class ConnectProxy:
    def __init__(self) -> None:
        self.requests: list[list[str]] = []  # the CONNECT request's lines, per tunnel
        self.refuse = False
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        self.requests.append([line for line in head if line])
        method, target, _ = head[0].split(" ", 2)
        if method != "CONNECT" or self.refuse:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    state = ConnectProxy()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state
        server.close()


@pytest.fixture
async def tls_emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorOptions(tls=True, audio_realtime=False)) as emu:
        await emu.start()
        assert emu.ca_path is not None
        monkeypatch.setenv("REALTALK_CA_CERTIFICATE", emu.ca_path)
        reset_cache()
        yield emu
    reset_cache()


async def test_wss_goes_through_the_https_proxy_with_its_credentials(
    proxy: ConnectProxy, tls_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:s3cret@127.0.0.1:{proxy.port}")
    url = f"{tls_emulator.ws_base_url}/realtime?model=gpt-realtime"
    assert url.startswith("wss://")
    async with asyncio.timeout(TIMEOUT):
        conn = await connect_realtime(
            url, {"Authorization": "Bearer sk-proxied"}, ServerEventParser(Version.V2)
        )
        try:
            await conn.send({"type": "session.update", "session": {"type": "realtime"}})
            while not isinstance(event := await conn.next_event(), SessionUpdated):
                assert event is not None
        finally:
            await conn.aclose()
    [request] = proxy.requests
    host_port = url.split("/")[2]
    assert request[0] == f"CONNECT {host_port} HTTP/1.1"
    credentials = base64.b64encode(b"alice:s3cret").decode()
    assert f"Proxy-Authorization: Basic {credentials}" in request
    assert not any("sk-proxied" in line for line in request)  # the API key rides inside TLS


async def test_a_proxy_that_refuses_the_tunnel_is_a_connect_error_naming_the_setting(
    proxy: ConnectProxy, tls_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.refuse = True
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:s3cret@127.0.0.1:{proxy.port}")
    with pytest.raises(ConnectError) as info:
        await connect_realtime(
            f"{tls_emulator.ws_base_url}/realtime", {}, ServerEventParser(Version.V2)
        )
    message = str(info.value)
    assert "the proxy answered HTTP 403" in message
    assert "HTTPS_PROXY" in message
    assert "s3cret" not in message


async def test_the_responses_websocket_goes_through_the_https_proxy(
    proxy: ConnectProxy, tls_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:s3cret@127.0.0.1:{proxy.port}")
    client = ModelClient(
        tls_emulator.base_url,
        api_key="sk-proxied",
        options=ModelClientOptions(stream_max_retries=0),
    )
    try:
        async with asyncio.timeout(TIMEOUT), client.new_session() as session:
            result = await session.complete(
                Prompt(model="agent-model", instructions="be brief", input=[user_message("hi")])
            )
    finally:
        await client.aclose()
    assert result.response_id
    assert tls_emulator.responses.stats.websocket_requests == 1  # no fallback to HTTP
    [request] = proxy.requests
    assert request[0] == f"CONNECT {tls_emulator.base_url.split('/')[2]} HTTP/1.1"
    credentials = base64.b64encode(b"alice:s3cret").decode()
    assert f"Proxy-Authorization: Basic {credentials}" in request
    assert not any("sk-proxied" in line for line in request)

"""The realtime WebSocket's failure paths: cancelled closes, proxy settings, header values,
a failing wire tap. Real loopback sockets throughout."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator

import pytest

from realtalk import ConfigError, ConnectError
from realtalk.protocol import ServerEventParser, Version, realtime_headers
from realtalk.transports import connect_realtime
from realtalk.transports._calls import create_call
from tests.conftest import EmulatorFactory

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class DeafServer:
    """Accepts the WebSocket upgrade, then never answers anything (not even a close)."""

    def __init__(self) -> None:
        self.port = 0
        self.got_frame = asyncio.Event()
        self.lost = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await reader.read(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in data.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await writer.drain()
        while await reader.read(4096):  # the close frame arrives here; it is never answered
            self.got_frame.set()
        self.lost.set()  # EOF: the client dropped the connection

    async def __aenter__(self) -> DeafServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def deaf() -> AsyncIterator[DeafServer]:
    async with DeafServer() as server:
        yield server


async def test_a_cancelled_aclose_still_drops_the_socket(deaf: DeafServer) -> None:
    conn = await connect_realtime(
        f"ws://127.0.0.1:{deaf.port}/v1/realtime", {}, ServerEventParser(Version.V2)
    )
    closing = asyncio.ensure_future(conn.aclose())
    async with asyncio.timeout(5):
        await deaf.got_frame.wait()  # the close frame went out; the server stays silent
    closing.cancel()
    await asyncio.gather(closing, return_exceptions=True)
    async with asyncio.timeout(5):
        await deaf.lost.wait()  # aborted at once, not left half-closed
    await conn.aclose()  # idempotent


@pytest.mark.parametrize(
    "proxy",
    ["proxy.local:3128", "http://user:s3cret@[bad/x", "socks5://user:s3cret@proxy.local:1080"],
)
async def test_unusable_proxy_settings_are_a_connect_error_without_credentials(
    monkeypatch: pytest.MonkeyPatch, proxy: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(ConnectError) as info:
        await connect_realtime(
            "wss://api.example.invalid/v1/realtime", {}, ServerEventParser(Version.V2)
        )
    message = str(info.value)
    assert "HTTPS_PROXY" in message
    assert "s3cret" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_control_characters_in_header_values_are_refused_without_echoing_the_key() -> None:
    with pytest.raises(ConfigError, match="control character") as info:
        realtime_headers(Version.V2, api_key="sk-secret\r", session_id="s1")
    assert "sk-secret" not in str(info.value)
    with pytest.raises(ConfigError, match="session id"):
        realtime_headers(Version.V2, api_key="sk-ok", session_id="s1\r\nX-Injected: 1")


async def test_call_creation_maps_refused_header_values_to_config_error(
    emulator_factory: EmulatorFactory, offer: str
) -> None:
    emulator = await emulator_factory()
    with pytest.raises(ConfigError, match="control character"):
        await create_call(
            emulator.base_url, offer_sdp=offer, headers={"x-session-id": "s1\r\nX-Injected: 1"}
        )

"""The realtime WebSocket's failure paths: cancelled closes, proxy settings, header values,
a failing wire tap. Real loopback sockets throughout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from realtalk import ConfigError, ConnectError
from realtalk.app_server import Client
from realtalk.protocol import ServerEventParser, Version, realtime_headers
from realtalk.transports import connect_realtime, create_call
from tests._http import DeafServer
from tests.conftest import EmulatorFactory


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


async def test_a_bad_host_without_a_proxy_is_not_blamed_on_the_proxy() -> None:
    with pytest.raises(ConnectError) as info:
        await connect_realtime(
            "wss://api..example.invalid/v1/realtime", {}, ServerEventParser(Version.V2)
        )
    assert "proxy" not in str(info.value).lower()
    assert "check the base URL" in str(info.value)


async def test_the_app_server_client_hides_proxy_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "ftp://alice:s3cret@proxy.example.invalid:3128")
    monkeypatch.setenv("HTTPS_PROXY", "ftp://alice:s3cret@proxy.example.invalid:3128")
    with pytest.raises(ConnectError, match="HTTPS_PROXY") as info:
        await Client.connect("ws://app.example.invalid:8765", open_timeout=5)
    assert "s3cret" not in str(info.value)
    assert info.value.__cause__ is None

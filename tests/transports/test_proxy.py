"""Proxies from the environment for realtalk's HTTP requests, and ``~/.netrc`` ignored.

The proxy here is a real aiohttp server on 127.0.0.1 that answers the proxied
request itself, so the target host never has to resolve.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from realtalk import ConfigError
from realtalk._proxy import EnvProxy, env_proxy
from realtalk.transports import create_call
from tests._http import serving
from tests.conftest import EmulatorFactory

AUTH = {"Authorization": "Bearer test-token"}


@dataclass
class FakeProxy:
    url: str = ""
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(absolute target URL, Authorization, Proxy-Authorization) per request."""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen.append(
            (
                str(request.url),
                request.headers.get("Authorization", ""),
                request.headers.get("Proxy-Authorization"),
            )
        )
        return web.Response(
            status=201,
            body=b"v=answer\r\n",
            headers={"Location": "/v1/realtime/calls/rtc_proxied"},
        )


@pytest.fixture
async def proxy() -> AsyncIterator[FakeProxy]:
    state = FakeProxy()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    async with serving(app) as url:
        state.url = url
        yield state


def test_env_proxy_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_proxy("https://api.openai.com/v1/responses") is None  # nothing set
    monkeypatch.setenv("HTTPS_PROXY", "http://user:p%40ss@proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "proxy.corp:8080")
    found = env_proxy("https://api.openai.com/v1/responses")
    assert found is not None
    assert found.url == "http://proxy.corp:3128"
    assert found.headers == {
        "Proxy-Authorization": "Basic " + base64.b64encode(b"user:p@ss").decode()
    }
    assert env_proxy("http://example.com/v1") == EnvProxy("http://proxy.corp:8080", None)
    monkeypatch.setenv("NO_PROXY", "api.openai.com,localhost")
    assert env_proxy("https://api.openai.com/v1/responses") is None
    assert env_proxy("https://other.example/v1") is not None


async def test_call_creation_goes_through_the_env_proxy(
    proxy: FakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = proxy.url.removeprefix("http://")
    monkeypatch.setenv("HTTP_PROXY", f"http://alice:secret@{host}")
    result = await create_call(
        "http://api.example.invalid/v1", offer_sdp="v=offer\r\n", headers=AUTH
    )
    assert result.call_id == "rtc_proxied"
    assert len(proxy.seen) == 1
    target, authorization, proxy_authorization = proxy.seen[0]
    assert target == "http://api.example.invalid/v1/realtime/calls"
    assert authorization == "Bearer test-token"
    assert proxy_authorization == "Basic " + base64.b64encode(b"alice:secret").decode()


async def test_a_netrc_entry_for_the_api_host_is_ignored(
    emulator_factory: EmulatorFactory, offer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp's trust_env would read it, then refuse our Authorization header with a
    # ValueError ("Cannot combine AUTHORIZATION header with AUTH argument").
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login me password pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    emulator = await emulator_factory()
    result = await create_call(emulator.base_url, offer_sdp=offer, headers=AUTH)
    assert result.call_id.startswith("rtc_")


def test_a_malformed_proxy_setting_is_a_config_error_that_hides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:s3cret@[bad/x")
    with pytest.raises(ConfigError, match="HTTPS_PROXY") as info:
        env_proxy("https://api.openai.com/v1/responses")
    assert "s3cret" not in str(info.value)

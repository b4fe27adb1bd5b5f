"""The browser page (``--web``): what is served, and who may connect (origin + token)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import msgspec
import pytest

from realtalk.app_server import AppServer, AppServerOptions
from realtalk.app_server._web import offered_token, page_origins, token_matches

from .conftest import Backend, make_settings

TOKEN = "configured-token"
INITIALIZE = '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"page_test"}}}'

WebFactory = Callable[..., Awaitable[AppServer]]


@pytest.fixture
async def web_server(backend: Backend, tmp_path: Path) -> AsyncIterator[WebFactory]:
    created: list[AppServer] = []

    async def make(*, auth_token: str | None = None, host: str = "127.0.0.1") -> AppServer:
        server = AppServer(make_settings(backend.base_url), AppServerOptions(default_cwd=tmp_path))
        created.append(server)
        await server.start_websocket(host, 0, auth_token=auth_token, web=True)
        return server

    yield make
    for server in created:
        await server.aclose()


def _http(server: AppServer) -> str:
    return server.url.replace("ws://", "http://", 1)


def _page_token(server: AppServer) -> str:
    return urlsplit(server.web_url).fragment.removeprefix("token=")


def _bearer(token: str) -> str:
    return "realtalk.bearer." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


async def _connect_status(
    server: AppServer,
    *,
    origin: str | None,
    token: str | None = None,
    header_token: str | None = None,
) -> tuple[int, str | None]:
    """(HTTP status of the upgrade, or 101 and the selected subprotocol) after initialize."""
    protocols = ["realtalk.jsonrpc"] + ([_bearer(token)] if token is not None else [])
    headers = {"Authorization": f"Bearer {header_token}"} if header_token else {}
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(
                server.url, protocols=protocols, origin=origin, headers=headers
            ) as ws:
                await ws.send_str(INITIALIZE)
                answer = msgspec.json.decode(await ws.receive_str())
                assert answer["result"]["userAgent"].startswith("page_test/")
                return 101, ws.protocol
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status, None


async def test_the_page_is_static_strict_and_holds_no_secret(web_server: WebFactory) -> None:
    server = await web_server()
    token = _page_token(server)
    assert len(token) >= 40
    assert server.web_url == f"{_http(server)}/#token={token}"
    async with aiohttp.ClientSession() as http:
        async with http.get(_http(server) + "/") as page:
            assert page.status == 200
            assert page.content_type == "text/html"
            body = await page.text()
            csp = page.headers["Content-Security-Policy"]
            assert page.headers["Cache-Control"] == "no-store"
            assert page.headers["X-Frame-Options"] == "DENY"
        assert token not in body and '<script type="module" src="/web/app.js">' in body
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # nothing from another site, no CDN
        async with http.get(_http(server) + "/web/app.js") as script:
            assert script.status == 200 and script.content_type == "text/javascript"
            assert "thread/realtime/start" in await script.text()
        async with http.get(_http(server) + "/web/app.css") as style:
            assert style.status == 200 and style.content_type == "text/css"
        async with http.get(_http(server) + "/web/missing.js") as missing:
            assert missing.status == 404
        for path in ("/readyz", "/healthz"):  # health checks still refuse browsers
            async with http.get(_http(server) + path, headers={"Origin": _http(server)}) as h:
                assert h.status == 403


async def test_the_page_origin_needs_the_page_token(web_server: WebFactory) -> None:
    server = await web_server()
    origin = _http(server)
    assert await _connect_status(server, origin=origin) == (401, None)
    assert await _connect_status(server, origin=origin, token="wrong") == (401, None)
    # A browser offers the token as a subprotocol; the server selects only the JSON-RPC one.
    token = _page_token(server)
    assert await _connect_status(server, origin=origin, token=token) == (101, "realtalk.jsonrpc")
    assert await _connect_status(server, origin=origin, header_token=token) == (
        101,
        "realtalk.jsonrpc",
    )
    port = urlsplit(origin).port
    assert port is not None
    for alias in (f"http://localhost:{port}", f"http://[::1]:{port}"):
        assert await _connect_status(server, origin=alias, token=token) == (101, "realtalk.jsonrpc")


async def test_another_site_cannot_drive_the_app_server_even_with_the_token(
    web_server: WebFactory,
) -> None:
    server = await web_server()
    token = _page_token(server)
    port = urlsplit(server.url).port
    assert port is not None
    for origin in (
        "http://evil.example",
        f"http://rebound.example:{port}",  # DNS rebinding to 127.0.0.1: its own origin
        f"http://127.0.0.1:{port + 1 if port < 65535 else 1}",  # another local server
        f"https://127.0.0.1:{port}",
        "null",  # sandboxed frames, file: and data: pages
    ):
        assert await _connect_status(server, origin=origin, token=token) == (403, None), origin


async def test_clients_without_an_origin_keep_the_listener_rules(web_server: WebFactory) -> None:
    open_server = await web_server()
    assert await _connect_status(open_server, origin=None) == (101, "realtalk.jsonrpc")
    guarded = await web_server(auth_token=TOKEN)
    assert await _connect_status(guarded, origin=None) == (401, None)
    # The page token is for browsers on the page's origin, not a second server password.
    page_token = _page_token(guarded)
    assert await _connect_status(guarded, origin=None, header_token=page_token) == (401, None)
    assert (await _connect_status(guarded, origin=None, header_token=TOKEN))[0] == 101
    # A browser may use the configured token instead of the page token.
    origin = _http(guarded)
    assert (await _connect_status(guarded, origin=origin, token=TOKEN))[0] == 101
    assert (await _connect_status(guarded, origin=origin, token=page_token))[0] == 101


async def test_without_web_there_is_no_page(backend: Backend, tmp_path: Path) -> None:
    server = AppServer(make_settings(backend.base_url), AppServerOptions(default_cwd=tmp_path))
    try:
        await server.start_websocket("127.0.0.1", 0)
        with pytest.raises(RuntimeError, match="not served"):
            _ = server.web_url
        async with aiohttp.ClientSession() as http, http.get(_http(server) + "/") as page:
            assert page.status == 426
        async with aiohttp.ClientSession() as http, http.get(_http(server) + "/web/app.js") as js:
            assert js.status == 404
    finally:
        await server.aclose()


def test_page_origins() -> None:
    assert page_origins("127.0.0.1", 8765, loopback=True) == {
        "http://127.0.0.1:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
    }
    assert page_origins("::1", 1, loopback=True) == {
        "http://[::1]:1",
        "http://localhost:1",
        "http://127.0.0.1:1",
    }
    assert page_origins("10.0.0.5", 80, loopback=False) == {"http://10.0.0.5:80"}


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("realtalk.jsonrpc", None),
        ("realtalk.jsonrpc, " + _bearer("s3cret"), "s3cret"),
        (_bearer("ünïcode token"), "ünïcode token"),
        ("realtalk.bearer.@@@", None),  # not base64url
        ("realtalk.bearer.__8", None),  # decodes, but not UTF-8
    ],
)
def test_offered_token(header: str | None, token: str | None) -> None:
    assert offered_token(header) == token


def test_token_matches() -> None:
    assert token_matches("a", ["b", "a"])
    assert not token_matches("a", [])
    assert not token_matches(None, ["a"])
    assert not token_matches("ab", ["a"])

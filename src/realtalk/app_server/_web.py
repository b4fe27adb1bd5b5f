"""The browser page (``realtalk app-server --listen ws://... --web``) and its access rules.

The page is a few static files shipped as package data (``_web/``: HTML, CSS and plain
JS modules; no build step, nothing from a CDN), served on the listener's own origin next to the
JSON-RPC WebSocket. It holds no secret: anyone who can reach the port may load it.
What it may *do* is decided when its WebSocket connects:

* **Origin.** A browser connection is accepted only from the page's own origins
  (``http://HOST:PORT`` of the listener; for a loopback listener also ``localhost``,
  ``127.0.0.1`` and ``[::1]`` on that port) or an ``--allow-origin``. A page from any
  other site, including a DNS-rebinding name for 127.0.0.1, carries its own origin
  and is refused (403): another site cannot drive the app-server.
* **Token.** Every browser connection must present a token: the page token, a random
  secret made for this run, or the configured ``--auth-token``. The server prints the
  page URL with the page token in the fragment (``http://HOST:PORT/#token=...``),
  which browsers never send to a server, put in a Referer or log; the page moves it
  to ``sessionStorage`` and drops it from the address bar. Browsers cannot set an
  ``Authorization`` header on a WebSocket, so the page offers the token as a
  subprotocol, ``realtalk.bearer.<base64url(token)>``, next to ``realtalk.jsonrpc``
  (the one the server selects; the token is never echoed back).
* Connections without an ``Origin`` (editors, scripts) keep the listener's rules:
  the configured token when there is one, else none on loopback.

Page responses carry a strict Content-Security-Policy (scripts and styles from the
page's origin only, no framing) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Iterable
from importlib import resources
from typing import Final

from aiohttp import web

__all__ = [
    "BEARER_PROTOCOL_PREFIX",
    "JSONRPC_PROTOCOL",
    "WebPage",
    "offered_token",
    "page_origins",
    "token_matches",
]

JSONRPC_PROTOCOL: Final = "realtalk.jsonrpc"
"""The subprotocol the server selects when a client offers it."""
BEARER_PROTOCOL_PREFIX: Final = "realtalk.bearer."
"""A subprotocol carrying a bearer token: this prefix + base64url(token), unpadded."""

_ASSETS: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/web/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/web/agent.js": ("agent.js", "text/javascript; charset=utf-8"),
    "/web/rpc.js": ("rpc.js", "text/javascript; charset=utf-8"),
    "/web/app.css": ("app.css", "text/css; charset=utf-8"),
}
_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; media-src 'self' blob:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "[::1]")


def page_origins(host: str, port: int, *, loopback: bool) -> frozenset[str]:
    """The origins the page is served from on ``host:port``."""
    shown = f"[{host}]" if ":" in host else host
    names = {shown, *(_LOOPBACK_NAMES if loopback else ())}
    return frozenset(f"http://{name}:{port}" for name in names)


def offered_token(protocols_header: str | None) -> str | None:
    """The token in a ``Sec-WebSocket-Protocol`` offer, if one is there and decodes."""
    if not protocols_header:
        return None
    for offered in protocols_header.split(","):
        name = offered.strip()
        if not name.startswith(BEARER_PROTOCOL_PREFIX):
            continue
        encoded = name.removeprefix(BEARER_PROTOCOL_PREFIX)
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            return raw.decode("utf-8")
        except (binascii.Error, ValueError):
            return None
    return None


def token_matches(presented: str | None, accepted: Iterable[str]) -> bool:
    """Constant-time comparison of ``presented`` with each accepted token."""
    if presented is None:
        return False
    given = presented.encode()
    # Compare with every token (no early exit), so timing shows nothing about which.
    results = [hmac.compare_digest(given, token.encode()) for token in accepted]
    return any(results)


class WebPage:
    """The page's files, read once from the package, and this run's page token."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(32)
        folder = resources.files("realtalk.app_server").joinpath("_web")
        self._files = {
            path: (folder.joinpath(name).read_bytes(), content_type)
            for path, (name, content_type) in _ASSETS.items()
        }

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self._files)

    def url(self, http_base: str) -> str:
        """The page's address with the token in the fragment (what the user opens)."""
        return f"{http_base}/#token={self.token}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        found = self._files.get(request.path)
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        headers = {**_HEADERS, "Content-Type": content_type}
        return web.Response(body=body, headers=headers)

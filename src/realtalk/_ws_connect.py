"""The one WebSocket client connect path: aiohttp, behind one seam.

Every realtalk WebSocket client (the realtime transport, the Responses model client,
the app-server link) opens its socket here, so they share one library (aiohttp's client
WebSocket: chosen with numbers, see README, Benchmarks) and one set of rules:

* the proxy comes from the environment (``realtalk._proxy``: ``HTTPS_PROXY``,
  ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), tunnelled with CONNECT;
* TLS from ``realtalk.tls`` (the custom CA bundle, if any);
* a refused upgrade keeps its body: aiohttp discards it (``ws_connect`` raises with
  the status only) and we show it to users ("HTTP 401: Incorrect API key"), so the
  session's response class reads it before aiohttp closes the response
  (:class:`_RefusalReader`);
* the handshake is logged at DEBUG with credential headers redacted (aiohttp itself
  logs no headers), and URLs are shown without userinfo;
* every failure becomes a realtalk error that says what failed and what to do, the
  connect timeout naming its setting.

The callers read and write frames on :attr:`WebSocket.ws` directly (aiohttp's C frame
reader queues inbound frames and answers pings; nothing sits in between).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import aiohttp

from realtalk._boundary import (
    DEFAULT_HINT,
    Redacted,
    connect_rules,
    failure_reason,
    hostname,
    map_exceptions,
)
from realtalk._errors import ConfigError, ConnectError, RealtalkError
from realtalk._proxy import PROXY_SETTING_HINT, proxy_for_request
from realtalk._wslog import redact_headers
from realtalk.tls import ssl_for_url

__all__ = ["PING_INTERVAL_S", "Refused", "WebSocket", "open_websocket", "redact_url"]

logger = logging.getLogger(__name__)

PING_INTERVAL_S: Final = 20.0
"""Keepalive ping interval (aiohttp's heartbeat: a missing pong closes the socket)."""
_REFUSAL_BODY_LIMIT: Final = 64 * 1024
_USER_AGENT: Final = "realtalk/0.1"

Refused = Callable[[int, bytes], RealtalkError]
"""Builds the caller's error for an upgrade refused with an HTTP status and body (raw)."""

ClientWs = aiohttp.ClientWebSocketResponse[Literal[False]]

_refusal_body: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "realtalk_refusal_body", default=None
)


class _RefusalReader(aiohttp.ClientResponse):
    """Reads the body of a refused upgrade before ``ws_connect`` drops it.

    ``start`` runs in the task that called ``ws_connect``, so the body reaches the
    caller through a context variable (set in that task's context).
    """

    async def start(self, connection: Any) -> aiohttp.ClientResponse:
        response = await super().start(connection)
        if self.status != 101:
            try:
                body = await self.content.read(_REFUSAL_BODY_LIMIT)
            except (aiohttp.ClientError, OSError, ValueError):
                body = b""
            _refusal_body.set(body)
        return response


def redact_url(url: str) -> str:
    """``url`` without userinfo (realtalk URLs carry none, but never show one)."""
    if "@" in url.split("?", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


class WebSocket:
    """An open client WebSocket and the session that owns its connection."""

    def __init__(self, ws: ClientWs, session: aiohttp.ClientSession, *, close_timeout_s: float):
        self.ws = ws
        """aiohttp's socket: ``send_frame``, ``receive``, ``close_code``."""
        self._session = session
        self._close_timeout_s = close_timeout_s
        self._closed = False

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The headers of the handshake's 101 answer."""
        return self.ws._response.headers

    @property
    def reusable(self) -> bool:
        """Open, and nothing arrived unread (a close frame, an error, the end of stream).

        Between requests a request/response socket receives nothing; a frame waiting
        unread there is most often the server's close, so the socket is not reused.
        """
        if self._closed or self.ws.closed:
            return False
        reader = getattr(self.ws, "_reader", None)
        if reader is None:
            return True
        return not (reader.is_eof() or getattr(reader, "_buffer", None))

    async def aclose(self) -> None:
        """Send a close frame (bounded wait), then release the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await self.ws.close()
        except (TimeoutError, OSError, aiohttp.ClientError):
            self._drop()
        except BaseException:  # cancelled mid-close: a later aclose() returns at once
            self._drop()
            raise
        finally:
            await self._session.close()

    def abort(self) -> None:
        """Drop the connection without a close frame (synchronous)."""
        self._closed = True
        self._drop()
        # The session holds nothing else: its connector pools no connection, so it is
        # detached rather than closed (closing is a coroutine, this is not).
        self._session.detach()

    def _drop(self) -> None:
        response = self.ws._response
        connection = response.connection
        transport = None if connection is None else connection.transport
        if transport is not None:
            transport.abort()
        response.close()


def _ws_proxy(url: str, headers: dict[str, str]) -> tuple[str | None, dict[str, str] | None]:
    """The environment's proxy for a ws/wss URL (looked up as http/https)."""
    scheme, sep, rest = url.partition("://")
    http_url = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme) + sep + rest
    proxy, proxy_headers = proxy_for_request(http_url, headers)
    if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"the proxy setting asks for {proxy.split('://', 1)[0]}, which realtalk's "
            f"WebSocket client cannot use; {PROXY_SETTING_HINT}"
        )
    return proxy, proxy_headers


async def open_websocket(
    url: str,
    headers: Mapping[str, str],
    *,
    name: str,
    peer: str,
    refused: Refused,
    timeout_s: float,
    max_message_bytes: int,
    hint: str = DEFAULT_HINT,
    setting: str | None = None,
    origin: str | None = None,
    use_proxy: bool = True,
    close_timeout_s: float = 2.0,
) -> WebSocket:
    """Open a client WebSocket (no compression, text frames read as bytes).

    Args:
        url: ``ws://`` or ``wss://`` URL.
        headers: Handshake headers (credentials are never logged).
        name: What the socket is for, in messages and logs (``"realtime"``).
        peer: Who is contacted, in messages (``"the realtime server at wss://..."``).
        refused: Builds the error for an upgrade answered with an HTTP error status.
        timeout_s: Bound on the whole handshake (proxy and TLS included).
        max_message_bytes: Largest inbound message (0: no limit).
        hint: What to do when the server cannot be reached.
        setting: The setting that holds ``timeout_s``, named in its error.
        origin: ``Origin`` header, if any.
        use_proxy: Whether the environment's proxy applies (False: always direct).
        close_timeout_s: Bound on waiting for the server's close frame.

    Raises:
        ConfigError: The URL is not a valid ws/wss URL.
        HandshakeError: (from ``refused``) the server refused the upgrade.
        ConnectError: The server could not be reached (refused, DNS, TLS, proxy,
            timeout), or its upgrade answer was not a valid WebSocket one.
    """
    shown = redact_url(url)
    request_headers = {"User-Agent": _USER_AGENT, **headers}
    proxy: str | None = None
    proxy_headers: dict[str, str] | None = None
    if use_proxy:
        try:
            proxy, proxy_headers = _ws_proxy(url, request_headers)
        except ConfigError as exc:  # its text names the variable, never its value
            raise ConnectError(f"could not connect to {peer}: {exc}") from None
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s websocket handshake: GET %s %s", name, shown, redact_headers(request_headers)
        )
    ssl_context = ssl_for_url(url)
    session = aiohttp.ClientSession(
        response_class=_RefusalReader, timeout=aiohttp.ClientTimeout(total=None)
    )
    if hasattr(session, "_retry_connection"):
        # aiohttp silently repeats a GET whose connection dropped before the answer; the
        # caller's retry policy (backoff, attempt counts) owns that decision here.
        session._retry_connection = False

    def handshake_failed(exc: aiohttp.WSServerHandshakeError) -> RealtalkError:
        if exc.status == 101:  # switched protocols, but not to a valid WebSocket
            return ConnectError(f"{name} websocket handshake with {shown} failed: bad upgrade")
        return refused(exc.status, _refusal_body.get() or b"")

    token = _refusal_body.set(None)
    try:
        with map_exceptions(
            (aiohttp.InvalidURL, lambda exc: ConfigError(f"invalid {name} URL {shown}: {exc}")),
            (aiohttp.WSServerHandshakeError, handshake_failed),
            (
                (aiohttp.ClientConnectorError, aiohttp.ClientHttpProxyError),
                lambda exc: _proxy_failure(exc, proxy, peer),
            ),
            *connect_rules(
                peer,
                timeout_s=timeout_s,
                host=hostname(url),
                hint=hint,
                network=(aiohttp.ClientError, OSError, ValueError),
                setting=setting,
            ),
        ):
            async with asyncio.timeout(timeout_s):
                ws = await session.ws_connect(
                    url,
                    headers=request_headers,
                    origin=origin,
                    ssl=ssl_context if ssl_context is not None else True,
                    proxy=proxy,
                    proxy_headers=proxy_headers,
                    heartbeat=PING_INTERVAL_S,
                    autoping=True,
                    max_msg_size=max_message_bytes,
                    compress=0,
                    decode_text=False,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=close_timeout_s),
                )
    except BaseException:
        await session.close()
        raise
    finally:
        _refusal_body.reset(token)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s websocket 101 headers: %s", name, redact_headers(ws._response.headers))
    return WebSocket(ws, session, close_timeout_s=close_timeout_s)


def _proxy_failure(exc: Exception, proxy: str | None, peer: str) -> Redacted | None:
    """With a proxy set, a failed connection is the proxy's (a certificate is not)."""
    if proxy is None or isinstance(exc, aiohttp.ClientSSLError):
        return None
    reason = (
        f"the proxy answered HTTP {exc.status}"
        if isinstance(exc, aiohttp.ClientHttpProxyError)
        else failure_reason(exc)
    )
    return Redacted(
        ConnectError(
            f"could not connect to {peer} through the proxy {proxy}: {reason}; "
            + PROXY_SETTING_HINT
        )
    )

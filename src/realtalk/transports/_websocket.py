"""Realtime WebSocket transport: the one seam between realtalk and a WebSocket library.

This module only moves frames and parses them (``ServerEventParser``, which never
raises); every decision about them (transcript, barge-in, handoffs, errors) is the
conversation core's, in ``realtalk.protocol``. The library is aiohttp's client
WebSocket (chosen with numbers: see README, Benchmarks): its C frame reader answers
pings and queues inbound frames, so a ``send`` never waits for a ``next_event`` and
vice versa. Text frames are read as bytes and parsed without a decode-to-str copy.

aiohttp discards the body of a refused upgrade (``ws_connect`` raises with the status
only); we show that body to users ("HTTP 401: Incorrect API key"), so the session's
response class reads it before aiohttp closes the response (:class:`_RefusalReader`).
Proxies come from the environment (``realtalk._proxy``, as for every aiohttp request)
and TLS from ``realtalk.tls``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import aiohttp
import msgspec
from aiohttp import WSMsgType

from realtalk._boundary import (
    CONNECT_TIMEOUT_SETTING,
    Redacted,
    connect_rules,
    failure_reason,
    hostname,
    map_exceptions,
)
from realtalk._errors import ConfigError, ConnectError, HandshakeError, TransportClosedError
from realtalk._proxy import PROXY_SETTING_HINT, proxy_for_request
from realtalk._secrets import scrub
from realtalk._wslog import redact_headers
from realtalk.protocol import RealtimeEvent, ServerEventParser, encode
from realtalk.tls import ssl_for_url

__all__ = ["RealtimeConnection", "WireTap", "connect_realtime"]

logger = logging.getLogger(__name__)

WireTap = Callable[[str, bytes], None]
"""Called with ``("out" | "in", raw JSON bytes)`` for every text frame."""

_CLOSED_MESSAGE: Final = "realtime websocket connection is closed"
_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_PING_INTERVAL_S: Final = 20.0
_CLOSE_TIMEOUT_S: Final = 2.0
_REFUSAL_BODY_LIMIT: Final = 64 * 1024
_USER_AGENT: Final = "realtalk/0.1"
_ENDED: Final = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})

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


def _redact_url(url: str) -> str:
    # URLs carry no credentials in realtalk, but strip userinfo defensively.
    if "@" in url.split("?", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


class RealtimeConnection:
    """An open realtime WebSocket: ``send`` messages, read typed events."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse[Literal[False]],
        session: aiohttp.ClientSession,
        parser: ServerEventParser,
        *,
        url: str,
        tap: WireTap | None = None,
    ) -> None:
        self._ws = ws
        self._session = session
        self._parser = parser
        self._tap = tap
        self._ended = False
        self._closed = False
        self.url = url
        self.close_detail = ""
        """Once the stream ended: the close code and reason the server sent (e.g. ``1001
        Your session hit the maximum duration of 60 minutes.``), or why there was none."""

    @property
    def closed(self) -> bool:
        return self._closed or self._ended

    @property
    def response_headers(self) -> Mapping[str, str]:
        return dict(self._ws._response.headers)

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send one client message as a compact JSON text frame.

        Raises:
            TransportClosedError: the connection is closed.
        """
        if self._closed:
            raise TransportClosedError(_CLOSED_MESSAGE)
        data = encode(message)
        if self._tap is not None:
            self._observe("out", data)
        ws = self._ws
        if ws.closed:
            raise TransportClosedError(f"{_CLOSED_MESSAGE}: {ws.close_code or 'no close code'}")
        try:
            await ws.send_frame(data, WSMsgType.TEXT)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise TransportClosedError(f"{_CLOSED_MESSAGE}: {exc}") from exc

    async def next_event(self) -> RealtimeEvent | None:
        """Return the next parsed server event, or ``None`` once the stream ended.

        Unparseable or unknown text frames are skipped. A binary frame yields an
        :class:`ErrorEvent`. After the first ``None`` every call returns ``None``.
        """
        receive, parse = self._ws.receive, self._parser.parse
        while not self._ended:
            msg = await receive()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                data = msg.data
                if self._tap is not None:
                    self._observe("in", data)
                event = parse(data)
                if event is not None:
                    return event
            elif kind is WSMsgType.BINARY:
                logger.error("unexpected binary realtime websocket event")
                return self._parser.parse_binary(msg.data)
            elif kind in _ENDED:
                self._ended = True
                logger.info(
                    "realtime websocket event stream ended: code=%s reason=%s",
                    self._ws.close_code,
                    msg.extra if kind is WSMsgType.CLOSE else (msg.data or ""),
                )
                # CLOSE carries the server's code and reason; CLOSED/ERROR mean none came
                # (a dropped TCP connection, a protocol error).
                self.close_detail = (
                    f"close {msg.data} {msg.extra or ''}".rstrip()
                    if kind is WSMsgType.CLOSE
                    else "no close frame"
                )
                return None
        return None

    async def aclose(self) -> None:
        """Close the socket (close frame, bounded wait). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self._ws.close()
        except (TimeoutError, OSError, aiohttp.ClientError):
            self._drop()
        except BaseException:  # cancelled mid-close: a later aclose() returns at once
            self._drop()
            raise
        finally:
            await self._session.close()

    def _observe(self, direction: str, data: bytes) -> None:
        """Feed the wire tap; a tap that fails (e.g. a full disk) is dropped, not fatal."""
        assert self._tap is not None
        try:
            self._tap(direction, data)
        except Exception:
            logger.exception("the wire tap failed; no more wire events will be recorded")
            self._tap = None

    def _drop(self) -> None:
        response = self._ws._response
        connection = response.connection
        transport = None if connection is None else connection.transport
        if transport is not None:
            transport.abort()
        response.close()

    def abort(self) -> None:
        """Drop the socket without a close frame (used when a conversation is replaced)."""
        self._closed = True
        self._drop()
        # The session holds nothing else: its connector pools no connection, so it is
        # detached rather than closed (closing is a coroutine, this is not).
        self._session.detach()


def _ws_proxy(url: str, headers: dict[str, str]) -> tuple[str | None, dict[str, str] | None]:
    """The environment's proxy for a ws/wss URL (looked up as http/https)."""
    scheme, sep, rest = url.partition("://")
    http_url = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme) + sep + rest
    proxy, proxy_headers = proxy_for_request(http_url, headers)
    if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"the proxy setting asks for {proxy.split('://', 1)[0]}, which the realtime "
            f"WebSocket cannot use; {PROXY_SETTING_HINT}"
        )
    return proxy, proxy_headers


async def connect_realtime(
    url: str,
    headers: Mapping[str, str],
    parser: ServerEventParser,
    *,
    open_timeout: float = 15.0,
    tap: WireTap | None = None,
) -> RealtimeConnection:
    """Open a realtime WebSocket (no compression). Errors are mapped to realtalk's tree.

    Raises:
        ConfigError: the URL is not a valid ws/wss URL.
        HandshakeError: the server answered the upgrade with an HTTP error (its body,
            scrubbed and cut to 500 characters, is in the message and ``body``).
        ConnectError: the server could not be reached (refused, DNS, TLS, proxy, timeout).
    """
    shown = _redact_url(url)
    peer = f"the realtime server at {shown}"
    logger.info("connecting realtime websocket: %s", shown)
    request_headers = {"User-Agent": _USER_AGENT, **headers}
    try:
        proxy, proxy_headers = _ws_proxy(url, request_headers)
    except ConfigError as exc:  # its text names the variable, never its value
        raise ConnectError(f"could not connect to {peer}: {exc}") from None
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "realtime websocket handshake: GET %s %s", shown, redact_headers(request_headers)
        )
    ssl_context = ssl_for_url(url)
    session = aiohttp.ClientSession(
        response_class=_RefusalReader, timeout=aiohttp.ClientTimeout(total=None)
    )
    if hasattr(session, "_retry_connection"):
        # aiohttp silently repeats a GET whose connection dropped before the answer; the
        # caller's retry policy (backoff, attempt counts) owns that decision here.
        session._retry_connection = False
    token = _refusal_body.set(None)
    try:
        with map_exceptions(
            (aiohttp.InvalidURL, lambda exc: ConfigError(f"invalid realtime URL {shown}: {exc}")),
            (
                aiohttp.WSServerHandshakeError,
                lambda exc: _refusal(exc.status, _refusal_body.get(), shown),
            ),
            (
                (aiohttp.ClientConnectorError, aiohttp.ClientHttpProxyError),
                lambda exc: _proxy_failure(exc, proxy, peer),
            ),
            *connect_rules(
                peer,
                timeout_s=open_timeout,
                host=hostname(url),
                network=(aiohttp.ClientError, OSError, ValueError),
                proxy=False,  # resolved above, from realtalk._proxy
                setting=CONNECT_TIMEOUT_SETTING,
            ),
        ):
            async with asyncio.timeout(open_timeout):
                ws = await session.ws_connect(
                    url,
                    headers=request_headers,
                    ssl=ssl_context if ssl_context is not None else True,
                    proxy=proxy,
                    proxy_headers=proxy_headers,
                    heartbeat=_PING_INTERVAL_S,
                    autoping=True,
                    max_msg_size=_MAX_MESSAGE_BYTES,
                    compress=0,
                    decode_text=False,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_TIMEOUT_S),
                )
    except BaseException:
        await session.close()
        raise
    finally:
        _refusal_body.reset(token)
    logger.info("realtime websocket connected", extra={"ws_url": shown})
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("realtime websocket 101 headers: %s", redact_headers(ws._response.headers))
    return RealtimeConnection(ws, session, parser, url=shown, tap=tap)


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


def _refusal(status: int, raw: bytes | None, shown: str) -> HandshakeError | ConnectError:
    if status == 101:  # switched protocols, but not to a valid WebSocket
        return ConnectError(f"realtime websocket handshake with {shown} failed: bad upgrade")
    body = scrub((raw or b"").decode("utf-8", "replace")[:500])
    return HandshakeError(
        f"realtime server refused the connection to {shown} with HTTP {status}"
        + (f": {_error_message(body)}" if body else ""),
        status=status,
        body=body,
    )


def _error_message(body: str) -> str:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.strip()
    if isinstance(decoded, dict):
        err = decoded.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
    return body.strip()

"""Realtime WebSocket transport: a thin full-duplex adapter around ``websockets``.

This module only moves frames and parses them (``ServerEventParser``, which never
raises); every decision about them (transcript, barge-in, handoffs, errors) is the
conversation core's, in ``realtalk.protocol``. ``websockets`` runs its own
reader task per connection, answers pings and queues inbound frames, so a
``send`` never waits for a ``next_event`` and vice versa (the reference's pump
task is not needed here). Concurrent ``send`` calls are serialised by
``websockets`` itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from realtalk._boundary import CONNECT_TIMEOUT_SETTING, connect_rules, hostname, map_exceptions
from realtalk._errors import ConfigError, ConnectError, HandshakeError, TransportClosedError
from realtalk._secrets import scrub
from realtalk._wslog import WS_CLIENT_LOGGER
from realtalk.protocol import RealtimeEvent, ServerEventParser, encode
from realtalk.tls import ssl_for_url

__all__ = ["RealtimeConnection", "WireTap", "connect_realtime"]

logger = logging.getLogger(__name__)

WireTap = Callable[[str, bytes], None]
"""Called with ``("out" | "in", raw JSON bytes)`` for every text frame."""

_CLOSED_MESSAGE = "realtime websocket connection is closed"


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
        ws: ClientConnection,
        parser: ServerEventParser,
        *,
        url: str,
        tap: WireTap | None = None,
    ) -> None:
        self._ws = ws
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
        response = self._ws.response
        return {} if response is None else dict(response.headers)

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
        try:
            await self._ws.send(data, text=True)
        except ConnectionClosed as exc:
            raise TransportClosedError(f"{_CLOSED_MESSAGE}: {exc}") from exc

    async def next_event(self) -> RealtimeEvent | None:
        """Return the next parsed server event, or ``None`` once the stream ended.

        Unparseable or unknown text frames are skipped. A binary frame yields an
        :class:`ErrorEvent`. After the first ``None`` every call returns ``None``.
        """
        while not self._ended:
            try:
                frame = await self._ws.recv()
            except ConnectionClosed as exc:
                self._ended = True
                rcvd = exc.rcvd
                logger.info(
                    "realtime websocket event stream ended: code=%s reason=%s",
                    rcvd.code if rcvd else None,
                    rcvd.reason if rcvd else "",
                )
                self.close_detail = (
                    f"close {rcvd.code} {rcvd.reason}".rstrip() if rcvd else "no close frame"
                )
                return None
            if isinstance(frame, bytes):
                logger.error("unexpected binary realtime websocket event")
                return self._parser.parse_binary(frame)
            if self._tap is not None:
                self._observe("in", frame.encode())
            event = self._parser.parse(frame)
            if event is not None:
                return event
        return None

    async def aclose(self) -> None:
        """Close the socket (close frame, bounded wait). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(2.0):
                await self._ws.close()
        except (TimeoutError, OSError, ConnectionClosed):
            self._ws.transport.abort()
        except BaseException:  # cancelled mid-close: a later aclose() returns at once
            self._ws.transport.abort()
            raise

    def _observe(self, direction: str, data: bytes) -> None:
        """Feed the wire tap; a tap that fails (e.g. a full disk) is dropped, not fatal."""
        assert self._tap is not None
        try:
            self._tap(direction, data)
        except Exception:
            logger.exception("the wire tap failed; no more wire events will be recorded")
            self._tap = None

    def abort(self) -> None:
        """Drop the socket without a close frame (used when a conversation is replaced)."""
        self._closed = True
        self._ws.transport.abort()


async def connect_realtime(
    url: str,
    headers: Mapping[str, str],
    parser: ServerEventParser,
    *,
    open_timeout: float = 15.0,
    compression: str | None = None,
    tap: WireTap | None = None,
) -> RealtimeConnection:
    """Open a realtime WebSocket. Errors are mapped to realtalk's tree.

    Raises:
        ConfigError: the URL is not a valid ws/wss URL.
        HandshakeError: the server answered the upgrade with an HTTP error.
        ConnectError: the server could not be reached (refused, DNS, TLS, timeout).
    """
    shown = _redact_url(url)
    logger.info("connecting realtime websocket: %s", shown)
    with map_exceptions(
        (InvalidURI, lambda exc: ConfigError(f"invalid realtime URL {shown}: {exc}")),
        (InvalidStatus, lambda exc: _refusal(exc, shown)),
        *connect_rules(
            f"the realtime server at {shown}",
            timeout_s=open_timeout,
            host=hostname(url),
            network=(OSError, ValueError),
            setting=CONNECT_TIMEOUT_SETTING,
        ),
        (
            (InvalidHandshake, ConnectionClosed),
            lambda exc: ConnectError(f"realtime websocket handshake with {shown} failed: {exc}"),
        ),
    ):
        ws = await websockets.connect(
            url,
            additional_headers=dict(headers),
            ssl=ssl_for_url(url),
            open_timeout=open_timeout,
            compression=compression,
            max_size=16 * 1024 * 1024,
            ping_interval=20.0,
            ping_timeout=20.0,
            user_agent_header="realtalk/0.1",
            logger=WS_CLIENT_LOGGER,
        )
    logger.info("realtime websocket connected", extra={"ws_url": shown})
    return RealtimeConnection(ws, parser, url=shown, tap=tap)


def _refusal(exc: InvalidStatus, shown: str) -> HandshakeError:
    status = exc.response.status_code
    body = scrub(bytes(exc.response.body or b"").decode("utf-8", "replace")[:500])
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

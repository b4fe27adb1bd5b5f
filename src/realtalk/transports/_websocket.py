"""Realtime WebSocket transport: the one seam between realtalk and a WebSocket library.

This module only moves frames and parses them (``ServerEventParser``, which never
raises); every decision about them (transcript, barge-in, handoffs, errors) is the
conversation core's, in ``realtalk.protocol``. The library is aiohttp's client
WebSocket (chosen with numbers: see README, Benchmarks): its C frame reader answers
pings and queues inbound frames, so a ``send`` never waits for a ``next_event`` and
vice versa. Text frames are read as bytes and parsed without a decode-to-str copy.

The socket is opened by ``realtalk._ws_connect``, the connect path every realtalk
WebSocket client shares: the refused upgrade's body shown to users ("HTTP 401:
Incorrect API key"), proxies from the environment, TLS from ``realtalk.tls``, redacted
handshake logs and typed errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec
from aiohttp import ClientError, WSMsgType

from realtalk._boundary import CONNECT_TIMEOUT_SETTING
from realtalk._errors import HandshakeError, TransportClosedError
from realtalk._secrets import scrub
from realtalk._ws_connect import WebSocket, open_websocket, redact_url
from realtalk.protocol import RealtimeEvent, ServerEventParser, encode

__all__ = ["RealtimeConnection", "WireTap", "connect_realtime"]

logger = logging.getLogger(__name__)

WireTap = Callable[[str, bytes], None]
"""Called with ``("out" | "in", raw JSON bytes)`` for every text frame."""

_CLOSED_MESSAGE: Final = "realtime websocket connection is closed"
_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_CLOSE_TIMEOUT_S: Final = 2.0
_ENDED: Final = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})


class RealtimeConnection:
    """An open realtime WebSocket: ``send`` messages, read typed events."""

    def __init__(
        self,
        socket: WebSocket,
        parser: ServerEventParser,
        *,
        url: str,
        tap: WireTap | None = None,
    ) -> None:
        self._socket = socket
        self._ws = socket.ws
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
        return dict(self._socket.response_headers)

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
        except (ClientError, ConnectionError, RuntimeError) as exc:
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
        await self._socket.aclose()

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
        self._socket.abort()


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
    shown = redact_url(url)
    logger.info("connecting realtime websocket: %s", shown)
    socket = await open_websocket(
        url,
        headers,
        name="realtime",
        peer=f"the realtime server at {shown}",
        refused=lambda status, raw: _refusal(status, raw, shown),
        timeout_s=open_timeout,
        max_message_bytes=_MAX_MESSAGE_BYTES,
        setting=CONNECT_TIMEOUT_SETTING,
        close_timeout_s=_CLOSE_TIMEOUT_S,
    )
    logger.info("realtime websocket connected", extra={"ws_url": shown})
    return RealtimeConnection(socket, parser, url=shown, tap=tap)


def _refusal(status: int, raw: bytes, shown: str) -> HandshakeError:
    body = scrub(raw.decode("utf-8", "replace")[:500])
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

"""I/O for one Responses request: WebSocket connect + stream, and HTTP POST + SSE.

These functions do one attempt each and convert every lower-layer failure into a
realtalk error; retries, fallback and connection reuse are the model client's job.
:func:`is_retryable` and :func:`is_upgrade_required` classify the errors for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Final

import aiohttp
from aiohttp import WSMsgType

from realtalk import tls
from realtalk._boundary import CONNECT_TIMEOUT_SETTING, connect_rules, hostname, map_exceptions
from realtalk._errors import (
    AgentError,
    ConfigError,
    HandshakeError,
    ProtocolError,
    TransportClosedError,
    TransportError,
)
from realtalk._proxy import proxy_for_request
from realtalk._secrets import scrub
from realtalk._ws_connect import WebSocket, open_websocket
from realtalk.protocol import server_error_message
from realtalk.protocol.responses import (
    ERR_BINARY_FRAME,
    ERR_CLOSED_BY_SERVER,
    ERR_IDLE_TIMEOUT,
    ERR_STREAM_CLOSED,
    TURN_STATE_HEADER,
    ErrorEvent,
    ResponseCompleted,
    ResponseFailed,
    ResponseIncomplete,
    ResponsesEvent,
    SseParser,
    decode_event,
)

__all__ = [
    "ModelResponseError",
    "TurnStateCell",
    "connect_websocket",
    "http_stream",
    "is_retryable",
    "is_upgrade_required",
    "ws_stream",
]

logger = logging.getLogger(__name__)

_ERROR_BODY_LIMIT: Final = 2048
_ERROR_MESSAGE_LIMIT: Final = 300
_CLOSE_TIMEOUT_S: Final = 2.0
# Failures of these codes will not go away by asking again.
_FATAL_RESPONSE_CODES: Final = frozenset(
    {"context_length_exceeded", "insufficient_quota", "invalid_prompt", "usage_not_included"}
)


class ModelResponseError(AgentError):
    """The model server reported a failed or incomplete response."""

    def __init__(self, message: str, *, code: str | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class TurnStateCell:
    """Write-once holder of the sticky routing token (``x-codex-turn-state``) of one turn."""

    def __init__(self) -> None:
        self._value: str | None = None

    @property
    def value(self) -> str | None:
        """The captured token, or None."""
        return self._value

    def set_once(self, value: str | None) -> bool:
        """Store ``value`` unless a token is already held (first value wins)."""
        if self._value is not None or not value:
            return False
        self._value = value
        return True


def is_upgrade_required(exc: BaseException) -> bool:
    """True for HTTP 426 on the WebSocket upgrade: switch to HTTP at once."""
    return isinstance(exc, HandshakeError) and exc.status == 426


def is_retryable(exc: BaseException) -> bool:
    """Whether asking again (after a backoff) may succeed."""
    if isinstance(exc, ModelResponseError):
        return exc.retryable
    if isinstance(exc, HandshakeError):
        return exc.status in (408, 409, 429) or exc.status >= 500
    if isinstance(exc, ConfigError):
        return False
    return isinstance(exc, TransportError | ProtocolError)


def _said(body: str) -> str:
    """``: <the server's error message>`` for a (scrubbed) error body, or nothing."""
    message = server_error_message(body.encode())
    return f": {message[:_ERROR_MESSAGE_LIMIT]}" if message else ""


_HINT: Final = "check the base URL and the network"


def _peer(url: str) -> str:
    return f"the model server at {hostname(url) or url}"


def _ws_refusal(status: int, raw: bytes) -> HandshakeError:
    body = scrub(raw.decode("utf-8", errors="replace")[:_ERROR_BODY_LIMIT])
    return HandshakeError(
        f"the model server refused the websocket upgrade with HTTP {status}{_said(body)}",
        status=status,
        body=body,
    )


async def connect_websocket(
    url: str,
    headers: Mapping[str, str],
    cell: TurnStateCell | None,
    *,
    connect_timeout_s: float,
    max_message_bytes: int,
) -> WebSocket:
    """Open the Responses WebSocket; capture the turn-state header into ``cell``.

    Raises:
        HandshakeError: The server answered the upgrade with an HTTP error.
        ConnectError: Network, TLS, proxy or timeout failure.
    """
    ws = await open_websocket(
        url,
        headers,
        name="Responses",
        peer=_peer(url),
        refused=_ws_refusal,
        timeout_s=connect_timeout_s,
        max_message_bytes=max_message_bytes,
        hint=_HINT,
        setting=CONNECT_TIMEOUT_SETTING,
        close_timeout_s=_CLOSE_TIMEOUT_S,
    )
    if cell is not None:
        cell.set_once(ws.response_headers.get(TURN_STATE_HEADER))
    return ws


def _check_event(event: ResponsesEvent) -> None:
    """Raise for events that end the request with an error."""
    if isinstance(event, ResponseFailed):
        error = event.response.error
        code = error.code if error is not None else None
        message = error.message if error is not None and error.message else "no details"
        raise ModelResponseError(
            scrub(f"the model response failed: {message}"),
            code=code,
            retryable=code not in _FATAL_RESPONSE_CODES,
        )
    if isinstance(event, ResponseIncomplete):
        reason = (event.response.incomplete_details or {}).get("reason", "unknown reason")
        raise ModelResponseError(f"the model response was incomplete: {reason}", retryable=False)
    if isinstance(event, ErrorEvent):
        detail = (event.error or {}).get("message", "no details")
        code = (event.error or {}).get("code")
        status = event.status
        raise ModelResponseError(
            scrub(f"the model server reported an error: {detail}"),
            code=code,
            # A lost previous response heals itself: the retry reconnects and sends
            # the full input.
            retryable=status is None
            or status == 429
            or status >= 500
            or code == "previous_response_not_found",
        )


async def ws_stream(
    socket: WebSocket, frame: bytes, *, idle_timeout_s: float
) -> AsyncGenerator[ResponsesEvent, None]:
    """Send one request frame and yield its events through ``response.completed``.

    Raises:
        TransportClosedError: The socket closed before ``response.completed``.
        ProtocolError: A binary frame arrived.
        TransportError: Nothing was sent or received within the idle timeout.
        ModelResponseError: The response failed.
    """
    ws = socket.ws
    if ws.closed:
        raise TransportClosedError(ERR_STREAM_CLOSED)
    try:
        async with asyncio.timeout(idle_timeout_s):
            await ws.send_frame(frame, WSMsgType.TEXT)
    except TimeoutError as exc:
        raise TransportError("idle timeout sending to websocket") from exc
    except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
        raise TransportClosedError(ERR_STREAM_CLOSED) from exc
    while True:
        try:
            async with asyncio.timeout(idle_timeout_s):
                message = await ws.receive()
        except TimeoutError as exc:
            raise TransportError(ERR_IDLE_TIMEOUT) from exc
        kind = message.type
        if kind is WSMsgType.TEXT:
            event = decode_event(message.data)
        elif kind is WSMsgType.BINARY:
            raise ProtocolError(ERR_BINARY_FRAME)
        elif kind is WSMsgType.CLOSE:  # the server's close frame
            raise TransportClosedError(ERR_CLOSED_BY_SERVER)
        else:  # CLOSING, CLOSED, ERROR: the stream ended without a close frame
            raise TransportClosedError(ERR_STREAM_CLOSED)
        if event is None:
            logger.debug("ignoring unknown or malformed responses event")
            continue
        _check_event(event)
        yield event
        if isinstance(event, ResponseCompleted):
            return


async def http_stream(
    http: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    cell: TurnStateCell,
    *,
    connect_timeout_s: float,
    idle_timeout_s: float,
) -> AsyncGenerator[ResponsesEvent, None]:
    """POST one request and yield its SSE events through ``response.completed``.

    Raises:
        HandshakeError: The server answered with an HTTP error status.
        ConnectError: The request could not be sent.
        TransportClosedError: The stream ended before ``response.completed``.
        TransportError: Nothing arrived within the idle timeout.
        ModelResponseError: The response failed.
    """
    with map_exceptions(
        *connect_rules(
            _peer(url),
            timeout_s=connect_timeout_s,
            host=hostname(url),
            hint=_HINT,
            setting=CONNECT_TIMEOUT_SETTING,
            network=(aiohttp.ClientError, OSError),
        ),
        # aiohttp's own refusals (e.g. a header value it will not send): not retryable.
        (ValueError, lambda exc: ConfigError(f"invalid request to {_peer(url)}: {exc}")),
    ):
        async with asyncio.timeout(connect_timeout_s):
            # No context (plain http) means aiohttp's default, which does no TLS here.
            ssl_context = tls.ssl_for_url(url)
            request_headers = dict(headers)
            proxy, proxy_headers = proxy_for_request(url, request_headers)
            resp = await http.post(
                url,
                data=body,
                headers=request_headers,
                ssl=ssl_context or True,
                proxy=proxy,
                proxy_headers=proxy_headers,
            )
    try:
        cell.set_once(resp.headers.get(TURN_STATE_HEADER))
        if resp.status != 200:
            raw = await _read_some(resp, idle_timeout_s)
            error_body = scrub(raw.decode("utf-8", errors="replace"))
            raise HandshakeError(
                f"the model server answered HTTP {resp.status}{_said(error_body)}",
                status=resp.status,
                body=error_body,
            )
        parser = SseParser()
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    chunk = await resp.content.readany()
            except TimeoutError as exc:
                raise TransportError("idle timeout waiting for the event stream") from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise TransportClosedError(ERR_STREAM_CLOSED) from exc
            if not chunk:
                raise TransportClosedError(ERR_STREAM_CLOSED)
            for message in parser.feed(chunk):
                event = decode_event(message.data)
                if event is None:
                    logger.debug("ignoring unknown or malformed responses event")
                    continue
                _check_event(event)
                yield event
                if isinstance(event, ResponseCompleted):
                    return
    finally:
        resp.release()


async def _read_some(resp: aiohttp.ClientResponse, timeout_s: float) -> bytes:
    try:
        async with asyncio.timeout(min(timeout_s, 5.0)):
            return await resp.content.read(_ERROR_BODY_LIMIT)
    except (TimeoutError, aiohttp.ClientError, OSError):
        return b""

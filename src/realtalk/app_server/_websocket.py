"""The WebSocket transport: one JSON message per text frame (aiohttp, no compression).

Security rules:

* The listener binds loopback unless told otherwise; binding any other address
  requires an auth token (checked by :class:`AppServer`).
* With a token, the upgrade needs ``Authorization: Bearer <token>`` (401 otherwise),
  checked before any JSON-RPC traffic.
* A request with an ``Origin`` header (a browser) is refused (403) unless the
  origin is in the allow-list; ``GET /readyz`` and ``/healthz`` answer 200 to
  non-browser callers and 403 to any request with an ``Origin``.
* With the browser page (``--web``, :mod:`._web`), the page's own origins join the
  allow-list and every browser connection must present a token (the page token or
  the configured one), in the header or as a ``realtalk.bearer.*`` subprotocol.

Frames up to :data:`MAX_MESSAGE_BYTES` are handled; a larger one (up to twice that)
is answered with ``-32600`` and the connection carries on; beyond that the
WebSocket layer closes the connection with 1009 (message too big).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Final

from aiohttp import WSMsgType, web

from realtalk.app_server._connection import Connection
from realtalk.app_server._web import JSONRPC_PROTOCOL, WebPage, offered_token, token_matches
from realtalk.protocol import MAX_MESSAGE_BYTES

__all__ = ["WebSocketListener", "text_frame"]

logger = logging.getLogger(__name__)

_FLUSH_TIMEOUT_S: Final = 5.0
_CLOSE_TIMEOUT_S: Final = 1.0
"""Longest close handshake before the TCP connection is dropped."""
_LEN1: Final = struct.Struct("!BB")
_LEN2: Final = struct.Struct("!BBH")
_LEN3: Final = struct.Struct("!BBQ")
_HEARTBEAT_S: Final = 30.0
_LINGER_RESET: Final = struct.pack("ii", 1, 0)
"""SO_LINGER on, zero seconds: closing sends a reset."""


class WebSocketListener:
    """aiohttp application serving app-server connections and health checks."""

    def __init__(
        self,
        new_connection: Callable[[str], Connection],
        *,
        auth_token: str | None = None,
        allowed_origins: Iterable[str] = (),
        page: WebPage | None = None,
    ) -> None:
        self._new_connection = new_connection
        self._token = auth_token
        self._origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self._page = page
        self._ids = itertools.count(1)
        self._sockets: dict[web.WebSocketResponse, asyncio.Transport | None] = {}
        self.app = web.Application()
        self.app.router.add_get("/readyz", self._health)
        self.app.router.add_get("/healthz", self._health)
        self.app.router.add_get("/", self._handle)
        if page is not None:
            for path in page.paths:
                if path != "/":
                    self.app.router.add_get(path, page.serve)
        self.app.on_shutdown.append(self._close_sockets)

    def allow_origins(self, origins: Iterable[str]) -> None:
        """Add browser origins (the page's, known once the port is bound)."""
        self._origins |= frozenset(o.rstrip("/") for o in origins)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        if "Origin" in request.headers:
            return web.Response(status=403, text="forbidden\n")
        return web.Response(text="ok\n")

    def _presented_token(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return offered_token(request.headers.get("Sec-WebSocket-Protocol"))

    def _refusal(self, request: web.Request) -> web.StreamResponse | None:
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in self._origins:
            logger.warning("app-server connection refused: origin %r is not allowed", origin)
            return web.Response(status=403, text="forbidden: origin not allowed\n")
        accepted = [self._token] if self._token is not None else []
        if self._page is not None and origin is not None:
            accepted.append(self._page.token)  # browsers always need a token with --web
        if accepted and not token_matches(self._presented_token(request), accepted):
            logger.warning("app-server connection refused: missing or wrong bearer token")
            return web.Response(
                status=401,
                text="unauthorized: send Authorization: Bearer <token>\n",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if self._page is not None and not upgrade:
            return await self._page.serve(request)  # the page itself holds no secret
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        ws = web.WebSocketResponse(
            compress=False,
            protocols=(JSONRPC_PROTOCOL,),
            max_msg_size=2 * MAX_MESSAGE_BYTES,
            heartbeat=_HEARTBEAT_S,
            # Check for a paused transport after every frame aiohttp writes: the
            # writer below also writes coalesced frames that aiohttp does not count.
            writer_limit=1,
        )
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text="expected a WebSocket upgrade\n")
        await ws.prepare(request)
        conn = self._new_connection(f"ws-{next(self._ids)}")
        self._sockets[ws] = request.transport
        try:
            await _serve(conn, ws, request.transport)
        finally:
            self._sockets.pop(ws, None)
        return ws

    async def _close_sockets(self, app: web.Application) -> None:
        del app
        await asyncio.gather(
            *(
                _close_gracefully(ws, transport, code=1001, message=b"server shutting down")
                for ws, transport in list(self._sockets.items())
            ),
            return_exceptions=True,
        )


async def _read(conn: Connection, ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            data: str = msg.data
            if len(data) > MAX_MESSAGE_BYTES:
                await conn.receive_oversized(len(data))
            else:
                await _receive(conn, data)
        elif msg.type is WSMsgType.BINARY:
            await conn.receive_unsupported(
                "binary frames are not supported; send one JSON message per text frame"
            )
        elif msg.type is WSMsgType.ERROR:
            logger.info("app-server websocket error: %s", ws.exception(), extra={"conn": conn.name})
            return


async def _receive(conn: Connection, data: str) -> None:
    # A bug in handling one frame must not end the connection: that frame gets no answer.
    try:
        await conn.receive(data)
    except Exception:
        logger.exception("app-server frame handling failed", extra={"conn": conn.name})


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final, uncompressed text frame (server to client, RFC 6455 5.2)."""
    size = len(payload)
    if size < 126:
        return _LEN1.pack(0x81, size) + payload
    if size < 65536:
        return _LEN2.pack(0x81, 126, size) + payload
    return _LEN3.pack(0x81, 127, size) + payload


async def _serve(
    conn: Connection, ws: web.WebSocketResponse, transport: asyncio.Transport | None
) -> None:
    async def drain() -> None:
        # Everything queued goes out in one write (a syscall per message was the
        # largest cost under load); the batch's last frame goes through aiohttp so
        # that a paused transport (slow client) makes this writer wait.
        while batch := await conn.next_batch():
            if len(batch) > 1 and transport is not None and not transport.is_closing():
                transport.write(b"".join(map(text_frame, batch[:-1])))
            elif len(batch) > 1:
                for data in batch[:-1]:
                    await ws.send_frame(data, WSMsgType.TEXT)
            await ws.send_frame(batch[-1], WSMsgType.TEXT)

    writer = asyncio.create_task(drain(), name=f"realtalk-app-writer-{conn.name}")
    reader = asyncio.create_task(_read(conn, ws), name=f"realtalk-app-reader-{conn.name}")
    aborted = asyncio.create_task(conn.aborted.wait())
    try:
        await asyncio.wait({reader, aborted, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        reader.cancel()
        aborted.cancel()
        await asyncio.gather(reader, aborted, return_exceptions=True)
        if conn.aborted.is_set():
            _drop(transport)  # it does not read: nothing more can reach it
        # Ending the threads first ends their realtime conversations cleanly.
        await conn.aclose()
        if conn.aborted.is_set():
            _drop(transport)  # found too slow while its threads closed
        flushed = True
        try:
            async with asyncio.timeout(_FLUSH_TIMEOUT_S):
                await asyncio.gather(writer, return_exceptions=True)
        except TimeoutError:
            # Cancelling a writer stuck on a paused transport also breaks aiohttp's
            # drain waiter, so a graceful close could no longer complete.
            flushed = False
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if conn.aborted.is_set() or not flushed:
            _drop(transport)
        else:
            await _close_gracefully(ws, transport)


def _drop(transport: asyncio.Transport | None) -> None:
    """Close the TCP connection at once (reset), discarding what it has not sent."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Without this the kernel would keep trying to deliver the unread data.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


async def _close_gracefully(
    ws: web.WebSocketResponse,
    transport: asyncio.Transport | None,
    *,
    code: int = 1000,
    message: bytes = b"",
) -> None:
    """Close handshake, bounded; a peer that does not complete it is dropped."""
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await ws.close(code=code, message=message)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            _drop(transport)
            raise
        # A stray cancellation from aiohttp's shared drain waiter, not ours.
        _drop(transport)
    except Exception as exc:  # TimeoutError, or the connection already broke
        logger.debug("app-server websocket close failed (%r); dropping the connection", exc)
        _drop(transport)

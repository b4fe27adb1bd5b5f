"""Thin glue between one aiohttp WebSocket and a :class:`ScriptedModel`.

Owns the socket's send lock, the fault knobs (counted per socket), the session cap
(``max_session_s``: the real API's ``session_expired`` error, then close 1001 with
the same words) and the read loop. Client frames are decoded with msgspec into plain
dicts; nothing here knows the realtime protocol beyond ``type``.

Sending coalesces: the frames of the events emitted in one turn of the event loop go
out in one write (a response's start is four events; fast audio is thousands), rather
than a syscall each, and one callback per loop turn (:class:`FrameFlusher`, shared by
the emulator's sockets) writes every socket that has frames waiting. An event that can
be coalesced is queued without taking the send lock (nothing is awaited, so nothing
can interleave); past ``_COALESCE_BYTES`` waiting in the socket, a frame goes through
aiohttp's own writer under the lock, whose flow control makes a slow client's sender
wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import AsyncIterator
from typing import Any, Final

import msgspec
from aiohttp import WSMsgType, web

from realtalk.emulator._beta import client_event_to_ga, server_event_to_beta
from realtalk.emulator._model import ScriptedModel
from realtalk.emulator._options import EmulatorOptions
from realtalk.emulator._record import RealtimeSessionRecord
from realtalk.emulator._wire import SessionMode, error_event, max_duration_text

__all__ = ["FrameFlusher", "RealtimeConnection"]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder()
MALFORMED_FRAME: Final = b'{"type": "response.output_audio.delta", "delta": '
BINARY_FRAME: Final = b"\x00\x01emulator-fault-binary-frame"
_CLOSE_TIMEOUT_S: Final = 2.0
_COALESCE_BYTES: Final = 256 * 1024
_LEN1: Final = struct.Struct("!BB")
_LEN2: Final = struct.Struct("!BBH")
_LEN3: Final = struct.Struct("!BBQ")


def _text_header(size: int) -> bytes:
    """The header of an unmasked, final, uncompressed text frame (RFC 6455 5.2)."""
    if size < 126:
        return _LEN1.pack(0x81, size)
    if size < 65536:
        return _LEN2.pack(0x81, 126, size)
    return _LEN3.pack(0x81, 127, size)


class FrameFlusher:
    """Writes the coalesced frames of every socket that has some, once per loop turn.

    One ``call_soon`` per loop turn for all sockets rather than one per socket: with
    hundreds of sockets each sending a frame a tick, the per-socket callbacks cost as
    much as the frames' encoding.
    """

    def __init__(self) -> None:
        self._due: list[RealtimeConnection] = []
        self._handle: asyncio.Handle | None = None

    def schedule(self, connection: RealtimeConnection) -> None:
        self._due.append(connection)
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._handle = None
        due, self._due = self._due, []
        for connection in due:
            connection.flush_scheduled()


class RealtimeConnection:
    """One accepted realtime socket driving (or attached to) a model."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        record: RealtimeSessionRecord,
        model: ScriptedModel,
        options: EmulatorOptions,
        *,
        transport: asyncio.Transport | None = None,
        beta: bool = False,
        flusher: FrameFlusher | None = None,
    ) -> None:
        """``flusher``: shared by the sockets of one server (default: this socket's own)."""
        self._ws = ws
        self._beta = beta  # OpenAI-Beta: realtime=v1: translate events at this socket
        self._transport = transport  # aborted when a graceful close cannot happen in time
        self._record = record
        self._model = model
        self._lock = asyncio.Lock()
        self._lock_users = 0  # holding or waiting for the lock: the hot path must wait too
        self._sent = 0
        self._fired: set[str] = set()
        self._inject_ids = itertools.count(1)
        self._faults = [
            ("malformed", options.malformed_after_events),
            ("binary", options.binary_after_events),
            ("error", options.error_after_events),
            ("close", options.close_after_events),
        ]
        self._has_faults = any(n is not None for _name, n in self._faults)
        self._pending: list[bytes] = []  # frames (header, payload) for this turn's write
        self._pending_bytes = 0
        self._flusher = flusher or FrameFlusher()
        self._flush_scheduled = False  # this socket waits in the flusher's list
        self._max_session_s = options.max_session_s
        self.expired = False
        """The session cap ended this socket (a call's sideband: end the call too)."""
        record.bind(self)

    @property
    def mode(self) -> SessionMode:
        return self._model.mode

    @property
    def model(self) -> ScriptedModel:
        return self._model

    async def send_event(self, event: JsonDict) -> None:
        """Model sink: send one server event; dropped silently once the socket closed."""
        if self._beta:
            translated = server_event_to_beta(event)
            if translated is None:
                return
            event = translated
        if not self._lock_users and not self._has_faults:
            queued = self._queue_frame(event)  # the hot path: no lock, nothing awaited
            if queued is not None:
                return
        async with self._locked():
            if not await self._send_locked(event):
                return
            if self._has_faults:
                await self._fire_faults()

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """The send lock, counted: while anyone holds or awaits it, events queue behind."""
        self._lock_users += 1
        try:
            async with self._lock:
                yield
        finally:
            self._lock_users -= 1

    async def inject(self, event: JsonDict) -> None:
        if "event_id" not in event:
            event = {**event, "event_id": f"event_glue{next(self._inject_ids):04d}"}
        await self.send_event(event)

    def _queue_frame(self, event: JsonDict, data: bytes | None = None) -> bool | None:
        """Coalesce one event's frame: True queued, False dropped (the socket closed),
        None: too much is waiting, send it through aiohttp's writer (flow control)."""
        if self._ws.closed:
            return False
        transport = self._transport
        if (
            transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size() + self._pending_bytes >= _COALESCE_BYTES
        ):
            return None
        if data is None:
            data = _ENCODER.encode(event)
        size = len(data)
        self._pending += (_text_header(size), data)
        self._pending_bytes += size
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._flusher.schedule(self)
        self._sent += 1
        self._record.note_sent(event)
        return True

    async def _send_locked(self, event: JsonDict) -> bool:
        if self._ws.closed:
            return False
        data = _ENCODER.encode(event)
        queued = self._queue_frame(event, data)
        if queued is not None:
            return queued
        self._flush()
        try:
            await self._ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("emulator dropped an event on a closing socket", extra={"error": str(exc)})
            return False
        self._sent += 1
        self._record.note_sent(event)
        return True

    def flush_scheduled(self) -> None:
        """The flusher's turn for this socket."""
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        """Write the coalesced frames (in order, before anything else is written)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        transport = self._transport
        if transport is not None and not transport.is_closing() and not self._ws.closed:
            transport.write(data)

    async def _fire_faults(self) -> None:
        for name, after in self._faults:
            if after is None or name in self._fired or self._sent < after:
                continue
            self._fired.add(name)
            logger.info("emulator fault fired", extra={"fault": name, "after_events": after})
            self._flush()  # the fault comes after every event sent before it
            if self._ws.closed:
                return
            try:
                if name == "malformed":
                    await self._ws.send_frame(MALFORMED_FRAME, WSMsgType.TEXT)
                elif name == "binary":
                    await self._ws.send_bytes(BINARY_FRAME)
                elif name == "error":
                    event = error_event(
                        f"Emulator fault injection: error after {after} events.",
                        error_type="server_error",
                        code="emulator_fault",
                    )
                    event["event_id"] = f"event_fault{after:04d}"
                    await self._send_locked(event)
                else:
                    await self._close_ws(1000, b"emulator fault: close_after_events")
            except (ConnectionError, RuntimeError):
                return

    async def _close_ws(self, code: int, message: bytes = b"") -> None:
        self._flush()
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self._ws.close(code=code, message=message)
        except (TimeoutError, ConnectionError, RuntimeError):
            logger.debug("emulator socket close did not complete cleanly")
            if self._transport is not None:
                self._transport.abort()

    async def close(self, code: int = 1000) -> None:
        """Server-initiated close (idempotent, bounded in time).

        A sender stuck on a client that stopped reading holds the lock; after the
        timeout the TCP connection is aborted instead of waiting for it.
        """
        self._lock_users += 1
        try:
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await self._lock.acquire()
            except TimeoutError:
                logger.debug("emulator socket is stuck sending; aborting the connection")
                if self._transport is not None:
                    self._transport.abort()
                return
            try:
                await self._close_ws(code)
            finally:
                self._lock.release()
        finally:
            self._lock_users -= 1

    async def _expire(self, after_s: float) -> None:
        """The session cap: ``session_expired`` then close 1001 (reference-wire-facts 3)."""
        await asyncio.sleep(after_s)
        words = max_duration_text(after_s)
        event = error_event(words, code="session_expired")
        event["event_id"] = "event_session_expired"
        async with self._locked():
            if self._ws.closed:
                return
            logger.info("emulator session cap reached", extra={"max_session_s": after_s})
            self.expired = True
            await self._send_locked(event)
            await self._close_ws(1001, words.encode())

    async def serve(self, *, start_model: bool) -> None:
        """Run until the socket closes: greet, then feed every client message to the model."""
        self._model.add_sink(self.send_event)
        expiry: asyncio.Task[None] | None = None
        if self._max_session_s is not None:
            expiry = asyncio.ensure_future(self._expire(self._max_session_s))
        try:
            if self._has_faults:
                async with self._locked():
                    await self._fire_faults()
            if start_model:
                await self._model.start()
            async for message in self._ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._on_frame(message.type, message.data)
                elif message.type is WSMsgType.ERROR:
                    logger.debug(
                        "emulator socket error", extra={"error": str(self._ws.exception())}
                    )
                    break
        finally:
            if expiry is not None:
                expiry.cancel()
                await asyncio.gather(expiry, return_exceptions=True)
            self._model.remove_sink(self.send_event)
            self._record.close_code = self._ws.close_code

    async def _on_frame(self, kind: WSMsgType, data: Any) -> None:
        if kind is WSMsgType.BINARY:
            await self.inject(
                error_event("Binary frames are not supported; send JSON text frames.")
            )
            return
        try:
            message = _DECODER.decode(data)
        except msgspec.DecodeError as exc:
            await self.inject(
                error_event(f"Invalid JSON in client message: {exc}", code="invalid_json")
            )
            return
        except RecursionError:
            await self.inject(
                error_event(
                    "Invalid JSON in client message: nested too deeply.", code="invalid_json"
                )
            )
            return
        if not isinstance(message, dict):
            await self.inject(
                error_event(
                    "Client messages must be JSON objects with a 'type'.", code="invalid_json"
                )
            )
            return
        self._record.note_received(message)
        await self._model.handle_client_event(
            client_event_to_ga(message) if self._beta else message
        )

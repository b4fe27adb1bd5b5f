"""The stdio transport: one JSON message per line (JSONL) on stdin/stdout.

Lines longer than :data:`~realtalk.protocol._jsonrpc.MAX_MESSAGE_BYTES` are
skipped up to their newline and answered with one ``-32600`` error; the
connection carries on. Blank lines are ignored. Logging never goes to stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO, Final, NamedTuple

from realtalk.app_server._connection import Connection
from realtalk.protocol import MAX_MESSAGE_BYTES

__all__ = ["LineFramer", "Oversized", "open_stdio", "run_stream_connection"]

logger = logging.getLogger(__name__)

_CHUNK: Final = 256 * 1024
_FLUSH_TIMEOUT_S: Final = 5.0


class Oversized(NamedTuple):
    """A line over the limit (its content was dropped); ``size`` counts its bytes."""

    size: int


class LineFramer:
    """Splits a byte stream into lines, with a per-line size limit (pure)."""

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._discarding = False
        self._discarded = 0

    def _line(self, line: bytes, out: list[bytes | Oversized]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip():
            out.append(line)

    def feed(self, chunk: bytes) -> list[bytes | Oversized]:
        out: list[bytes | Oversized] = []
        pos = 0
        while pos < len(chunk):
            nl = chunk.find(b"\n", pos)
            end = len(chunk) if nl < 0 else nl
            size = end - pos
            if self._discarding:
                self._discarded += size
            elif len(self._buf) + size > self._limit:
                self._discarding = True
                self._discarded = len(self._buf) + size
                self._buf.clear()
            else:
                self._buf += chunk[pos:end]
            if nl < 0:
                break
            if self._discarding:
                out.append(Oversized(self._discarded))
                self._discarding = False
                self._discarded = 0
            else:
                self._line(bytes(self._buf), out)
                self._buf.clear()
            pos = nl + 1
        return out

    def finish(self) -> list[bytes | Oversized]:
        """End of stream: the unterminated last line, if any."""
        out: list[bytes | Oversized] = []
        if self._discarding:
            out.append(Oversized(self._discarded))
        elif self._buf:
            self._line(bytes(self._buf), out)
        self._buf.clear()
        self._discarding = False
        return out


async def run_stream_connection(
    conn: Connection,
    chunks: AsyncIterator[bytes],
    write: Callable[[bytes], Awaitable[None]],
) -> None:
    """Serve ``conn`` over a byte stream until EOF or until the connection is aborted."""

    async def read() -> None:
        framer = LineFramer()
        async for chunk in chunks:
            for frame in framer.feed(chunk):
                await _deliver(conn, frame)
        for frame in framer.finish():
            await _deliver(conn, frame)

    async def drain() -> None:
        # One write per batch: JSON lines concatenate, so a burst costs one syscall.
        while batch := await conn.next_batch():
            await write(b"\n".join(batch) + b"\n")

    writer = asyncio.create_task(drain(), name=f"realtalk-app-writer-{conn.name}")
    reader = asyncio.create_task(read(), name=f"realtalk-app-reader-{conn.name}")
    aborted = asyncio.create_task(conn.aborted.wait())
    try:
        await asyncio.wait({reader, aborted, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, aborted):
            task.cancel()
        await asyncio.gather(reader, aborted, return_exceptions=True)
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            logger.error("stdio reader failed: %s", reader.exception())
        await conn.aclose()
        try:
            async with asyncio.timeout(_FLUSH_TIMEOUT_S):
                await asyncio.gather(writer, return_exceptions=True)
        except TimeoutError:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)


async def _deliver(conn: Connection, frame: bytes | Oversized) -> None:
    # A bug in handling one line must not end the connection: that line gets no answer.
    try:
        if isinstance(frame, Oversized):
            await conn.receive_oversized(frame.size)
        else:
            await conn.receive(frame)
    except Exception:
        logger.exception("app-server line handling failed", extra={"conn": conn.name})


@contextlib.asynccontextmanager
async def open_stdio(
    stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[tuple[AsyncIterator[bytes], Callable[[bytes], Awaitable[None]]]]:
    """Async access to stdin (chunks) and stdout (write) for pipes, ttys and files."""
    loop = asyncio.get_running_loop()
    src = stdin or sys.stdin.buffer
    dst = stdout or sys.stdout.buffer
    reader = asyncio.StreamReader(limit=_CHUNK)
    read_transport: asyncio.BaseTransport | None = None
    try:
        _require_pipe(src)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), src
        )

        async def chunks() -> AsyncIterator[bytes]:
            while data := await reader.read(_CHUNK):
                yield data

    except (ValueError, OSError):
        # Regular files cannot be watched by the event loop: read them in a thread.
        fd = src.fileno()

        async def chunks() -> AsyncIterator[bytes]:
            while data := await asyncio.to_thread(os.read, fd, _CHUNK):
                yield data

    write_transport: asyncio.WriteTransport | None = None
    try:
        _require_pipe(dst)
        write_transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, dst
        )
        writer = asyncio.StreamWriter(write_transport, protocol, None, loop)

        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

    except (ValueError, OSError):

        async def write(data: bytes) -> None:
            await asyncio.to_thread(_write_all, dst, data)

    try:
        yield chunks(), write
    finally:
        if read_transport is not None:
            read_transport.close()
        if write_transport is not None:
            write_transport.close()


def _require_pipe(stream: BinaryIO) -> None:
    """Only pipes and sockets go to the event loop (ValueError otherwise).

    Regular files cannot be watched at all, and character devices (a terminal,
    /dev/null) are not handled alike by every loop: uvloop aborts the process on
    /dev/null. Those are read and written in a thread.
    """
    mode = os.fstat(stream.fileno()).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        raise ValueError("not a pipe or a socket")


def _write_all(dst: BinaryIO, data: bytes) -> None:
    dst.write(data)
    dst.flush()

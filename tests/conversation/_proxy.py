"""A TCP relay on loopback in front of the emulator, to drop sockets for real.

``relay`` passes bytes both ways. :meth:`FaultProxy.cut` aborts every relayed
connection (both sides, no close frame: what a dead network or a crashed server looks
like to the client). In ``silent`` mode new connections are accepted and held without a
byte (a server that never answers the handshake); ``refuse`` closes them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

Mode = Literal["relay", "silent", "refuse"]


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode: Mode = "relay"
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._relayed: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._held: list[asyncio.StreamWriter] = []
        self._held_reads: list[asyncio.Task[bytes]] = []
        self.held_changed = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "refuse":
            writer.transport.abort()
            return
        if self.mode == "silent":
            self._held.append(writer)
            self.held_changed.set()
            read = asyncio.ensure_future(reader.read())  # b"" once the client hangs up
            self._held_reads.append(read)
            with contextlib.suppress(ConnectionError):
                await read
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._relayed.append((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()

    def cut(self) -> None:
        """Drop every relayed connection now, without a close frame."""
        for client, upstream in self._relayed:
            client.transport.abort()
            upstream.transport.abort()
        self._relayed.clear()

    async def wait_held(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while len(self._held) < n:
                self.held_changed.clear()
                await self.held_changed.wait()

    async def held_connections_closed(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """True once every held (silent) connection was closed by the client."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(*self._held_reads, return_exceptions=True)
        return all(read.done() for read in self._held_reads)

    async def aclose(self) -> None:
        self.cut()
        for writer in self._held:
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

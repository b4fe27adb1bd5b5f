"""Hand-written loopback servers for tests: an aiohttp app, and a deaf WebSocket peer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


def text_frame(payload: bytes) -> bytes:
    """An unmasked server-to-client text frame (RFC 6455 5.2)."""
    size = len(payload)
    if size < 126:
        return bytes([0x81, size]) + payload
    if size < 1 << 16:
        return bytes([0x81, 126]) + size.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + size.to_bytes(8, "big") + payload


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields ``http://127.0.0.1:PORT``."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class DeafServer:
    """Accepts a WebSocket upgrade, sends ``greeting`` text frames, then never answers
    anything (not even a close frame). ``port`` once entered."""

    def __init__(self, *greeting: bytes) -> None:
        self.greeting = greeting
        self.port = 0
        self.got_frame = asyncio.Event()
        self.got_close = asyncio.Event()
        self.lost = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await reader.read(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in data.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        for payload in self.greeting:
            writer.write(text_frame(payload))
        await writer.drain()
        while chunk := await reader.read(4096):  # a close frame is never answered
            self.got_frame.set()
            if chunk[0] & 0x0F == 0x8:  # a (masked) close frame from the client
                self.got_close.set()
        self.lost.set()  # EOF: the client dropped the connection

    async def __aenter__(self) -> DeafServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

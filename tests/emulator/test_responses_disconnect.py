"""``/v1/responses`` clients that vanish mid-stream end the stream quietly.

Raw loopback sockets send a request and abort at once, so the emulator writes its
answer to a connection that is already gone. A log handler is the synchronisation
point: the handler either logs the quiet "went away" debug line (fixed) or aiohttp
logs an ERROR traceback for the crashed handler (the bug).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Iterator

import pytest

from realtalk.emulator import Emulator

JsonBody = dict[str, object]
_QUIET_LOGGER = "realtalk.emulator._responses"
_QUIET_MESSAGE = "client went away"


class _LogWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.changed.set()

    def quiet(self) -> list[logging.LogRecord]:
        return [r for r in self.records if _QUIET_MESSAGE in r.getMessage()]

    def errors(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.ERROR]

    async def wait_for_outcome(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not (self.quiet() or self.errors()):
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def log_watch() -> Iterator[_LogWatch]:
    watch = _LogWatch()
    quiet = logging.getLogger(_QUIET_LOGGER)
    server = logging.getLogger("aiohttp.server")
    level = quiet.level
    quiet.setLevel(logging.DEBUG)
    quiet.addHandler(watch)
    server.addHandler(watch)
    try:
        yield watch
    finally:
        quiet.removeHandler(watch)
        server.removeHandler(watch)
        quiet.setLevel(level)


def _request_body(*, websocket: bool) -> JsonBody:
    user = {"type": "message", "role": "user", "content": "hi " * 300}
    body: JsonBody = {
        "model": "m",
        "instructions": "",
        "input": [user],
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "store": False,
        "stream": True,
        "include": [],
        "prompt_cache_key": "k",
    }
    return {"type": "response.create", **body} if websocket else body


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 65536:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_websocket_client_vanishing_mid_response_is_quiet(
    emulator: Emulator, log_watch: _LogWatch
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    frame = _masked_text_frame(json.dumps(_request_body(websocket=True)))
    writer.write(frame * 5)
    writer.transport.abort()  # gone before the emulator writes a single event

    await log_watch.wait_for_outcome()
    assert log_watch.errors() == []
    assert log_watch.quiet()


async def test_sse_client_vanishing_mid_response_is_quiet(
    emulator: Emulator, log_watch: _LogWatch
) -> None:
    body = json.dumps(_request_body(websocket=False)).encode()
    _reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    writer.write(
        b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    writer.transport.abort()  # gone before the emulator writes the headers

    await log_watch.wait_for_outcome()
    assert log_watch.errors() == []
    assert log_watch.quiet()

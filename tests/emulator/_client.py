"""A raw ``websockets`` client for driving the emulator in tests (no realtalk client code)."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from array import array
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

JsonDict = dict[str, Any]


BACKGROUND_AGENT_TOOL: JsonDict = {
    "type": "function",
    "name": "background_agent",
    "description": "Send a user request to the background agent.",
    "parameters": {
        "type": "object",
        "properties": {"prompt": {"type": "string"}},
        "required": ["prompt"],
        "additionalProperties": False,
    },
}
REMAIN_SILENT_TOOL: JsonDict = {
    "type": "function",
    "name": "remain_silent",
    "description": "Say nothing.",
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
}
HANDOFF_TOOLS: list[JsonDict] = [BACKGROUND_AGENT_TOOL, REMAIN_SILENT_TOOL]
"""The tools a realtalk voice session declares (the scripted model calls only these)."""


def pcm_tone(ms: int, *, amplitude: int = 8000, hz: int = 300) -> bytes:
    """PCM16 LE 24 kHz mono sine (``amplitude`` 0 gives digital silence)."""
    n = ms * 24
    samples = array(
        "h", (round(amplitude * math.sin(2 * math.pi * hz * i / 24000)) for i in range(n))
    )
    return samples.tobytes()


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


def append_events(pcm: bytes, *, chunk_ms: int = 100) -> list[JsonDict]:
    size = chunk_ms * 48
    return [
        {"type": "input_audio_buffer.append", "audio": b64(pcm[i : i + size])}
        for i in range(0, len(pcm), size)
    ]


def user_text(text: str) -> JsonDict:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


class RawClient:
    """JSON-in, JSON-out over a websockets connection with bounded waits."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[JsonDict] = []

    async def send(self, event: JsonDict) -> None:
        await self.ws.send(json.dumps(event))

    async def recv_raw(self, timeout: float = 5.0) -> str | bytes:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            return await self.ws.recv()

    async def recv(self, timeout: float = 5.0) -> JsonDict:  # noqa: ASYNC109
        event = json.loads(await self.recv_raw(timeout))
        assert isinstance(event, dict)
        self.events.append(event)
        return event

    async def until(self, event_type: str, timeout: float = 5.0) -> list[JsonDict]:  # noqa: ASYNC109
        """Receive events up to and including the first of ``event_type``."""
        got: list[JsonDict] = []
        while True:
            event = await self.recv(timeout)
            got.append(event)
            if event.get("type") == event_type:
                return got


@asynccontextmanager
async def open_client(
    url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
) -> AsyncIterator[RawClient]:
    async with connect(
        url, compression=None, open_timeout=5, close_timeout=2, additional_headers=headers, **kwargs
    ) as ws:
        yield RawClient(ws)

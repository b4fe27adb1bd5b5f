"""Record a trace from the emulator: the core and the scripted model, wired in-process.

A tool for writing traces, not a test: ``python -m tests.traces._record NAME`` writes
``NAME.jsonl`` with the emulator's server events and the script's inputs (no
expectations), then ``python -m tests.traces._replay NAME.jsonl`` drafts the
expectations to review. Audio payloads are replaced by ``<pcm:Nms>`` placeholders of
the same duration (the core only measures audio), and ``event_id`` s are kept.

The model runs with ``audio_sink`` for WebRTC scripts (audio goes to the "track", the
sideband sees ``output_audio_buffer.*``), else it sends audio deltas.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from realtalk.emulator import ScriptedModel
from realtalk.protocol import (
    AudioFrame,
    ConversationCore,
    Media,
    SessionConfig,
    Version,
    session_update,
)
from tests.traces._replay import TRACES

Step = dict[str, Any]


def _placeholder(event: dict[str, Any]) -> dict[str, Any]:
    for key in ("delta", "audio"):
        value = event.get(key)
        if isinstance(value, str) and event.get("type", "").endswith("audio.delta"):
            ms = len(base64.b64decode(value)) // 48
            return {**event, key: f"<pcm:{ms}ms>"}
    return event


class Recorder:
    def __init__(self, version: Version, media: Media) -> None:
        self.steps: list[Step] = []
        self.core = ConversationCore(version, media=media)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sink = self._track if media is Media.WEBRTC else None
        self.model = ScriptedModel(
            version=version.value,
            realtime_audio=False,
            audio_sink=sink,
        )
        self.model.add_sink(self._server_event)
        self.version = version

    async def _track(self, pcm: bytes) -> None:
        del pcm  # the media track: the core never sees it

    async def _server_event(self, event: dict[str, Any]) -> None:
        await self.inbox.put(dict(event))

    async def _pump(self) -> None:
        """Deliver server events to the core and client messages to the model until quiet."""
        while True:
            while (message := self.core.next_message()) is not None:
                await self.model.handle_client_event(json.loads(json.dumps(message)))
            try:
                async with asyncio.timeout(0.2):
                    event = await self.inbox.get()
            except TimeoutError:
                if self.core.next_message() is None:
                    return
                continue
            event = _placeholder(event)
            self.steps.append({"server": event})
            self.core.receive_frame(json.dumps(event), 0.0)
            while self.core.next_output() is not None:
                pass

    async def do(self, step: Step, call: Callable[[], Any] | None = None) -> None:
        self.steps.append(step)
        if call is not None:
            result = call()
            if isinstance(result, Awaitable):
                await result
        while self.core.next_output() is not None:
            pass
        await self._pump()

    async def start(self) -> None:
        await self.model.start()
        config = SessionConfig(instructions="be brief", model="gpt-realtime", version=self.version)
        await self.model.handle_client_event(session_update(config))
        await self._pump()


async def _text_turn(rec: Recorder, text: str) -> None:
    await rec.do({"user_text": text}, lambda: rec.core.user_text(text))
    await rec.do({"request_response": True}, rec.core.request_response)


async def _speech(rec: Recorder, pcm: bytes) -> None:
    for offset in range(0, len(pcm), 960):
        chunk = base64.b64encode(pcm[offset : offset + 960]).decode()
        rec.core.user_audio(AudioFrame(chunk))
    rec.steps.append({"user_audio": f"<pcm:{len(pcm) // 48}ms>"})
    await rec._pump()


def _tone(ms: int) -> bytes:
    import math
    import struct

    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 300 * i / 24000)))
        for i in range(24 * ms)
    )


async def record(name: str) -> list[Step]:
    version = Version.V1 if name.startswith("emulator_v1") else Version.V2
    media = Media.WEBRTC if "webrtc" in name else Media.WEBSOCKET
    rec = Recorder(version, media)
    await rec.start()
    if "cancel" in name:  # the person says "cancel that" while the agent works
        await _text_turn(rec, "agent, count the files")
        await _text_turn(rec, "cancel that")
        await rec.do({"agent": "stopped"}, rec.core.agent_stopped)
    elif "during_a_delegation" in name:  # the person talks while the agent works
        await _text_turn(rec, "agent, count the files")
        await _text_turn(rec, "how is it going?")
        await rec.do(
            {"agent": "message", "text": "There are 3 files."},
            lambda: rec.core.agent_message("There are 3 files."),
        )
        await rec.do({"agent": "complete"}, rec.core.agent_complete)
    elif "handoff" in name:
        await _text_turn(rec, "agent, count the files")
        await rec.do(
            {"agent": "message", "text": "There are 3 files."},
            lambda: rec.core.agent_message("There are 3 files."),
        )
        await rec.do({"agent": "complete"}, rec.core.agent_complete)
    elif "speech" in name:
        await _speech(rec, _tone(400) + bytes(48 * 700))
    else:
        await _text_turn(rec, "hello there")
    await rec.model.aclose()
    return rec.steps


def main() -> None:
    name = sys.argv[1]
    steps = asyncio.run(record(name))
    header = {
        "version": "v1" if name.startswith("emulator_v1") else "v2",
        "media": "webrtc" if "webrtc" in name else "websocket",
        "source": "emulator: recorded with tests/traces/_record.py (audio as <pcm> placeholders)",
        "about": name,
    }
    lines = [json.dumps({"trace": header}), *(json.dumps(step) for step in steps)]
    (TRACES / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

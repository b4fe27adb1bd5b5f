"""``realtalk bench parse``: server events parsed and dispatched per second.

The corpus is a response's shape on the wire: mostly audio deltas, some transcript
deltas, a created and a done. Each frame is parsed and fed to the transcript
accumulator, as a conversation's reader does.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import msgspec

from realtalk.protocol import ServerEventParser, TranscriptAccumulator, Version

__all__ = ["bench_parse"]


def _parse_corpus() -> list[bytes]:
    audio = base64.b64encode(os.urandom(960)).decode("ascii")
    enc = msgspec.json.encode
    delta = enc(
        {
            "type": "response.output_audio.delta",
            "event_id": "evt_1",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": audio,
        }
    )
    transcript = enc(
        {
            "type": "response.output_audio_transcript.delta",
            "event_id": "evt_2",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "hello ",
        }
    )
    created = enc({"type": "response.created", "event_id": "e", "response": {"id": "resp_1"}})
    done = enc({"type": "response.done", "event_id": "e", "response": {"id": "resp_1"}})
    return [delta] * 16 + [transcript] * 3 + [created, done]


def bench_parse(count: int = 300_000) -> dict[str, Any]:
    """Parse and dispatch ``count`` realistic server frames; ``{"events_per_s"}``."""
    corpus = _parse_corpus()
    parser = ServerEventParser(Version.V2)
    transcript = TranscriptAccumulator()
    frames = (corpus * (count // len(corpus) + 1))[:count]
    for frame in frames[:1000]:  # warm-up
        parser.parse(frame)
    dispatched = 0
    t0 = time.perf_counter()
    for frame in frames:
        event = parser.parse(frame)
        if event is not None:
            transcript.observe(event)
            dispatched += 1
    elapsed = time.perf_counter() - t0
    return {"events_per_s": round(dispatched / elapsed)}

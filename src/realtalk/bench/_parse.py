"""``realtalk bench parse``: server events parsed and dispatched per second.

The corpus is a response's shape on the wire: mostly audio deltas (``audio_bytes`` of
PCM each; the real API sends about 4 KB), some transcript deltas, a created and a done.
Each frame is parsed and fed to the transcript accumulator, as a conversation's reader
does. Frames are parsed as the socket hands them over: bytes (the transport reads text
frames without decoding them); ``str_events_per_s`` is the same run from ``str`` frames,
the path of a transport that decodes first, for comparison.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import msgspec

from realtalk.protocol import ServerEventParser, TranscriptAccumulator, Version

__all__ = ["bench_parse"]


def _parse_corpus(audio_bytes: int) -> list[bytes]:
    audio = base64.b64encode(os.urandom(audio_bytes)).decode("ascii")
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


def _rate(parser: ServerEventParser, frames: list[bytes] | list[str]) -> int:
    transcript = TranscriptAccumulator()
    parse, observe = parser.parse, transcript.observe
    for frame in frames[:1000]:  # warm-up
        parse(frame)
    dispatched = 0
    t0 = time.perf_counter()
    for frame in frames:
        event = parse(frame)
        if event is not None:
            observe(event)
            dispatched += 1
    return round(dispatched / (time.perf_counter() - t0))


def bench_parse(count: int = 300_000, audio_bytes: int = 960) -> dict[str, Any]:
    """Parse and dispatch ``count`` realistic server frames; ``{"events_per_s", ...}``."""
    if audio_bytes < 1:
        raise ValueError(f"audio_bytes must be >= 1, got {audio_bytes}")
    corpus = _parse_corpus(audio_bytes)
    parser = ServerEventParser(Version.V2)
    frames = (corpus * (count // len(corpus) + 1))[:count]
    as_str = [frame.decode() for frame in corpus]
    str_frames = (as_str * (count // len(as_str) + 1))[:count]
    rates: list[int] = []
    str_rates: list[int] = []
    for _ in range(3):  # interleaved, so drift on a busy machine hits both alike
        rates.append(_rate(parser, frames))
        str_rates.append(_rate(parser, str_frames))
    return {
        "events": count,
        "audio_bytes": audio_bytes,
        "audio_delta_frame_bytes": len(corpus[0]),
        "events_per_s": max(rates),  # best of 3: noise only ever slows a run down
        "str_events_per_s": max(str_rates),
        "bytes_vs_str_ratio": round(max(rates) / max(str_rates), 3),
    }

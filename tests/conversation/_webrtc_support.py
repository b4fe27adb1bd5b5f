"""Helpers for the WebRTC conversation tests."""

from __future__ import annotations

import array
import json
import math
from collections.abc import Callable
from typing import Any

from realtalk.conversation import (
    Closed,
    ConversationEvent,
    ConversationManager,
    Realtime,
    Settings,
    StartParams,
    WebRtcTransport,
)

from .conftest import Recorder, make_settings

BOUNDARY = "codex-realtime-call-boundary"
SERVER_500_MESSAGE = "The server had an error while processing your request. Sorry about that!"


def webrtc_settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "transport": "webrtc",
        "startup_context": "startup context",
        "sideband_max_retries": 2,
        "sideband_retry_base_ms": 10,
    }
    values.update(overrides)
    return make_settings(base_url, **values)


def start_params(offer: str, **overrides: Any) -> StartParams:
    values: dict[str, Any] = {"prompt": "backend prompt", "realtime_session_id": "conv_rtc"}
    values.update(overrides)
    return StartParams(transport=WebRtcTransport(offer), **values)


def is_(kind: type[Any]) -> Callable[[ConversationEvent], bool]:
    return lambda e: isinstance(e, kind)


def realtime(kind: type[Any]) -> Callable[[ConversationEvent], bool]:
    return lambda e: isinstance(e, Realtime) and isinstance(e.payload, kind)


def kinds(rec: Recorder) -> list[str]:
    names = []
    for e in rec.events:
        names.append(type(e.payload).__name__ if isinstance(e, Realtime) else type(e).__name__)
    return names


def multipart(offer: str, session: dict[str, Any]) -> bytes:
    session_json = json.dumps(session, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="sdp"\r\n'
        "Content-Type: application/sdp\r\n\r\n"
        f"{offer}\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="session"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f"{session_json}\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode()


def pcm_rms(pcm: bytes) -> float:
    samples = array.array("h", pcm[: len(pcm) - len(pcm) % 2])
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def tone(seconds: float, *, hz: float = 300.0, amplitude: int = 8000) -> bytes:
    count = int(24_000 * seconds)
    samples = array.array(
        "h", (int(amplitude * math.sin(2 * math.pi * hz * n / 24_000)) for n in range(count))
    )
    return samples.tobytes()


async def barrier(mgr: ConversationManager, rec: Recorder) -> None:
    """Close and wait for ``Closed{requested}``: every earlier event has been recorded."""
    await mgr.close()
    await rec.wait_for(lambda e: e == Closed("requested"))

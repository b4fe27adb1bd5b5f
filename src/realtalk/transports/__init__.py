"""I/O adapters: the realtime WebSocket, WebRTC call creation and the local media peer.

Names are loaded on first use (PEP 562), so ``from realtalk.transports import
connect_realtime`` loads the WebSocket stack only, and aiortc (about half a second to
import) is loaded by the first WebRTC name a program touches, never before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtalk.transports._audio import (
        PCM24K_RATE,
        FrameToPcm24k,
        Pcm16Resampler,
        WavFormatError,
        read_wav_pcm24k,
        resample_pcm16,
        stream_pcm24k,
    )
    from realtalk.transports._calls import CallCreationError, CallResult, create_call
    from realtalk.transports._ice import loopback_ice_candidates
    from realtalk.transports._track import Pcm24kSource
    from realtalk.transports._webrtc import EVENTS_CHANNEL_LABEL, WebRtcPeer
    from realtalk.transports._websocket import RealtimeConnection, WireTap, connect_realtime

__all__ = [
    "EVENTS_CHANNEL_LABEL",
    "PCM24K_RATE",
    "CallCreationError",
    "CallResult",
    "FrameToPcm24k",
    "Pcm16Resampler",
    "Pcm24kSource",
    "RealtimeConnection",
    "WavFormatError",
    "WebRtcPeer",
    "WireTap",
    "connect_realtime",
    "create_call",
    "loopback_ice_candidates",
    "read_wav_pcm24k",
    "resample_pcm16",
    "stream_pcm24k",
]

_MODULES: dict[str, str] = {
    "EVENTS_CHANNEL_LABEL": "_webrtc",
    "PCM24K_RATE": "_audio",
    "CallCreationError": "_calls",
    "CallResult": "_calls",
    "FrameToPcm24k": "_audio",
    "Pcm16Resampler": "_audio",
    "Pcm24kSource": "_track",
    "RealtimeConnection": "_websocket",
    "WavFormatError": "_audio",
    "WebRtcPeer": "_webrtc",
    "WireTap": "_websocket",
    "connect_realtime": "_websocket",
    "create_call": "_calls",
    "loopback_ice_candidates": "_ice",
    "read_wav_pcm24k": "_audio",
    "resample_pcm16": "_audio",
    "stream_pcm24k": "_audio",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

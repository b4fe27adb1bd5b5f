"""I/O adapters: the realtime WebSocket, WebRTC call creation and the local media peer."""

from realtalk.transports._audio import (
    PCM24K_RATE,
    FrameToPcm24k,
    Pcm16Resampler,
    Pcm24kSource,
    WavFormatError,
    read_wav_pcm24k,
    resample_pcm16,
    stream_pcm24k,
)
from realtalk.transports._calls import CallCreationError, CallResult, create_call
from realtalk.transports._ice import loopback_ice_candidates
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

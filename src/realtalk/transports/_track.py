"""The outgoing WebRTC audio track (aiortc): pcm24k bytes in, 20 ms frames out."""

from __future__ import annotations

import asyncio
import fractions
import logging

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtalk.transports._audio import FRAME_MS, PCM24K_BYTES_PER_MS, PCM24K_RATE

__all__ = ["Pcm24kSource"]

logger = logging.getLogger("realtalk.transports._audio")

_FRAME_SAMPLES = PCM24K_RATE * FRAME_MS // 1000  # 480
_FRAME_BYTES = _FRAME_SAMPLES * 2  # 960


class Pcm24kSource(MediaStreamTrack):
    """Outgoing WebRTC audio track fed with pcm24k bytes.

    ``push`` appends to a bounded buffer. **Overflow policy: drop oldest** — when the
    buffer would exceed ``max_buffered_ms``, the oldest audio is discarded (a warning is
    logged once per overflow episode and ``dropped_bytes`` counts it), which keeps
    latency bounded. ``recv`` (called by aiortc's sender) returns one 20 ms, 24 kHz mono
    s16 frame per call at real-time pace; the encoder converts it to the codec's rate
    and layout. With less than a frame buffered it sends silence, holding a partial
    frame back for one period in case the rest is about to arrive.

    Only call ``push``/``clear`` from the event loop thread.
    """

    kind = "audio"

    # If the loop stalls longer than this, restart the clock instead of sending a burst.
    _MAX_LAG_S = 0.2

    def __init__(self, *, max_buffered_ms: int = 10_000) -> None:
        super().__init__()
        if max_buffered_ms < FRAME_MS:
            raise ValueError(f"max_buffered_ms must be at least {FRAME_MS}")
        self._max_bytes = max_buffered_ms * PCM24K_BYTES_PER_MS
        self._buffer = bytearray()
        self._partial_waits = 0
        self._next_deadline: float | None = None
        self._pts = 0
        self._overflowing = False
        self.dropped_bytes = 0

    @property
    def buffered_ms(self) -> float:
        """Audio waiting to be sent, in milliseconds."""
        return len(self._buffer) / PCM24K_BYTES_PER_MS

    def push(self, data: bytes) -> None:
        """Queue pcm24k bytes for sending (drops the oldest audio on overflow)."""
        self._buffer += data
        excess = len(self._buffer) - self._max_bytes
        if excess > 0:
            excess += excess % 2  # stay on sample boundaries
            del self._buffer[:excess]
            self.dropped_bytes += excess
            if not self._overflowing:
                self._overflowing = True
                logger.warning(
                    "outgoing audio buffer full; dropping oldest audio",
                    extra={"max_buffered_ms": self._max_bytes // PCM24K_BYTES_PER_MS},
                )
        elif self._overflowing and len(self._buffer) < self._max_bytes // 2:
            self._overflowing = False

    def clear(self) -> None:
        """Drop all queued audio (e.g. when the model's response is interrupted)."""
        self._buffer.clear()
        self._partial_waits = 0
        self._overflowing = False

    def _take_frame(self) -> bytes:
        if len(self._buffer) >= _FRAME_BYTES:
            payload = bytes(self._buffer[:_FRAME_BYTES])
            del self._buffer[:_FRAME_BYTES]
            self._partial_waits = 0
            return payload
        if self._buffer and self._partial_waits >= 1:
            payload = bytes(self._buffer).ljust(_FRAME_BYTES, b"\x00")
            self._buffer.clear()
            self._partial_waits = 0
            return payload
        if self._buffer:
            self._partial_waits += 1
        return bytes(_FRAME_BYTES)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next_deadline is None or now - self._next_deadline > self._MAX_LAG_S:
            self._next_deadline = now
        elif self._next_deadline > now:
            await asyncio.sleep(self._next_deadline - now)  # real-time pacing
        self._next_deadline += FRAME_MS / 1000
        frame = AudioFrame(format="s16", layout="mono", samples=_FRAME_SAMPLES)
        frame.planes[0].update(self._take_frame())
        frame.sample_rate = PCM24K_RATE
        frame.time_base = fractions.Fraction(1, PCM24K_RATE)
        frame.pts = self._pts
        self._pts += _FRAME_SAMPLES
        return frame

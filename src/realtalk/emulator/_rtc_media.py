"""Media plumbing of the emulator's WebRTC peer: its audio track, decoding, ICE scope.

The emulator's own code (it shares none with realtalk's client transports):

* :class:`OutputTrack` is the call's outgoing audio: a bounded buffer of 24 kHz mono
  PCM16 drained in 20 ms frames at real-time pace, silence when idle.
* :class:`Pcm24kDecoder` turns the decoded frames aiortc hands out (48 kHz stereo
  Opus, or anything else) into 24 kHz mono PCM16 with PyAV's resampler.
* :func:`loopback_candidates` makes ICE gathering offer only 127.0.0.1 inside the
  block (aioice skips loopback addresses and has no option for it, so the emulator
  wraps ``aioice.ice.get_host_addresses`` once, process-wide; outside the block the
  wrapper calls what it replaced, so other aiortc users see no change).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fractions
import logging
from collections.abc import Callable, Iterator
from typing import Final

import aioice.ice
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

__all__ = ["FRAME_BYTES", "OutputTrack", "Pcm24kDecoder", "loopback_candidates"]

logger = logging.getLogger(__name__)

RATE: Final = 24_000
FRAME_MS: Final = 20
FRAME_SAMPLES: Final = RATE * FRAME_MS // 1000
FRAME_BYTES: Final = FRAME_SAMPLES * 2
_BYTES_PER_MS: Final = RATE * 2 // 1000
_MAX_LAG_S: Final = 0.2


class OutputTrack(MediaStreamTrack):
    """The call's outgoing audio track, fed with 24 kHz mono PCM16.

    Overflow policy: beyond ``max_buffered_ms`` the oldest audio is dropped (counted
    in ``dropped_bytes``, logged once per overflow). A partial frame waits one frame
    period for the rest before it is sent padded with silence.
    """

    kind = "audio"

    def __init__(self, *, max_buffered_ms: int) -> None:
        super().__init__()
        self._max_bytes = max(FRAME_BYTES, max_buffered_ms * _BYTES_PER_MS)
        self._buffer = bytearray()
        self._partial_waited = False
        self._deadline: float | None = None
        self._pts = 0
        self._overflowing = False
        self.dropped_bytes = 0

    @property
    def buffered_ms(self) -> float:
        return len(self._buffer) / _BYTES_PER_MS

    def push(self, pcm: bytes) -> None:
        self._buffer += pcm
        excess = len(self._buffer) - self._max_bytes
        if excess <= 0:
            self._overflowing = False
            return
        excess += excess % 2
        del self._buffer[:excess]
        self.dropped_bytes += excess
        if not self._overflowing:
            self._overflowing = True
            logger.warning("emulator call audio buffer full; dropping the oldest audio")

    def clear(self) -> None:
        self._buffer.clear()
        self._partial_waited = False

    def _next_frame(self) -> bytes:
        if len(self._buffer) >= FRAME_BYTES or (self._buffer and self._partial_waited):
            frame = bytes(self._buffer[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\x00")
            del self._buffer[:FRAME_BYTES]
            self._partial_waited = False
            return frame
        self._partial_waited = bool(self._buffer)
        return bytes(FRAME_BYTES)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = asyncio.get_running_loop().time()
        if self._deadline is None or now - self._deadline > _MAX_LAG_S:
            self._deadline = now  # first frame, or the loop stalled: no catch-up burst
        elif self._deadline > now:
            await asyncio.sleep(self._deadline - now)  # real-time pacing
        self._deadline += FRAME_MS / 1000
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self._next_frame())
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        return frame


class Pcm24kDecoder:
    """Decoded audio frames of any format -> 24 kHz mono PCM16 (streaming)."""

    def __init__(self) -> None:
        self._resampler: AudioResampler | None = None
        self._source: tuple[str, str, int] | None = None

    def convert(self, frame: AudioFrame) -> bytes:
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or source != self._source:
            self._resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
            self._source = source
        frame.pts = None  # timestamps do not matter here and can upset the resampler
        out = bytearray()
        for resampled in self._resampler.resample(frame):
            out += bytes(resampled.planes[0])[: resampled.samples * 2]
        return bytes(out)


_LOOPBACK: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "realtalk_emulator_loopback_ice", default=False
)
_DELEGATING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "realtalk_emulator_ice_delegating", default=False
)
_PRISTINE: Final = aioice.ice.get_host_addresses


def _install_wrapper() -> Callable[[bool, bool], list[str]]:
    replaced = aioice.ice.get_host_addresses

    # Positional booleans: this keeps aioice's signature.
    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:  # noqa: FBT001
        if _LOOPBACK.get():
            return ["127.0.0.1"] if use_ipv4 else []
        if _DELEGATING.get():  # another wrapper called back into us: no loop
            return _PRISTINE(use_ipv4, use_ipv6)
        token = _DELEGATING.set(True)
        try:
            return replaced(use_ipv4, use_ipv6)
        finally:
            _DELEGATING.reset(token)

    aioice.ice.get_host_addresses = host_addresses
    return host_addresses


# Installed once, at import: no gathering can be in flight while it is swapped in.
_WRAPPER: Final = _install_wrapper()


@contextlib.contextmanager
def loopback_candidates() -> Iterator[None]:
    """Within this block (and tasks started in it) ICE gathers only 127.0.0.1."""
    token = _LOOPBACK.set(True)
    try:
        yield
    finally:
        _LOOPBACK.reset(token)

"""Speaker playback: a thread-safe jitter buffer drained by the driver's callback."""

from __future__ import annotations

import asyncio
import logging
import threading

from realtalk.cli._device import (
    AudioDevice,
    AudioStream,
    DeviceInfo,
    block_frames,
    choose_rate,
    is_quiet,
    post_threadsafe,
    select_device,
)
from realtalk.transports import PCM24K_RATE, Pcm16Resampler

__all__ = ["JitterBuffer", "Speaker", "buffer_policy"]

logger = logging.getLogger(__name__)

_SAMPLE_BYTES = 2  # mono PCM16

PACED_MAX_MS = 2000
PACED_SKIP_QUIET_MS = 100
UNPACED_MAX_MS = 60_000


def buffer_policy(*, paced: bool) -> tuple[int, int | None]:
    """``(max_ms, skip_quiet_ms)`` for a source that is (or is not) paced in real time.

    A WebRTC track is paced and never stops (silence between turns): a small cap and
    skipping quiet chunks keep clock drift from building latency. A WebSocket delivers
    an answer as fast as the server produces it, often faster than real time: the
    buffer must hold the whole answer and keep its pauses.
    """
    if paced:
        return PACED_MAX_MS, PACED_SKIP_QUIET_MS
    return UNPACED_MAX_MS, None


class JitterBuffer:
    """Thread-safe playback buffer: the loop pushes, the device thread reads.

    Policies:

    * overflow: beyond ``max_ms`` the oldest audio is dropped (``dropped_bytes``);
    * silence skip: near-silent chunks are discarded while more than ``skip_quiet_ms``
      is buffered (``None``: never), so a continuous stream (WebRTC sends silence
      between turns) cannot build latency out of clock drift between sender and sound
      card (see :func:`buffer_policy`);
    * prefill: playback (re)starts once ``prefill_ms`` is buffered, or once buffered
      audio has waited ``prefill_ms`` of output time (so a short tail still plays);
    * underrun: missing bytes are silence (``underruns`` counts the episodes);
    * ``clear()`` drops everything (barge-in).
    """

    def __init__(
        self,
        *,
        samplerate: int = PCM24K_RATE,
        max_ms: int = PACED_MAX_MS,
        prefill_ms: int = 60,
        skip_quiet_ms: int | None = PACED_SKIP_QUIET_MS,
    ) -> None:
        per_ms = samplerate * _SAMPLE_BYTES / 1000
        self._per_ms = per_ms
        self._lock = threading.Lock()
        self._max = 0
        self._skip_quiet: int | None = None
        self.set_limits(max_ms=max_ms, skip_quiet_ms=skip_quiet_ms)
        self._prefill = int(prefill_ms * per_ms)
        self._buf = bytearray()
        self._playing = False
        self._held = 0
        self.consumed = 0  # bytes that left the buffer: played, dropped or cleared
        self.dropped_bytes = 0
        self.skipped_bytes = 0
        self.underruns = 0

    def set_limits(self, *, max_ms: int, skip_quiet_ms: int | None) -> None:
        """Change the overflow cap and the silence skip (e.g. for another source)."""
        with self._lock:
            self._max = int(max_ms * self._per_ms) // 2 * 2
            self._skip_quiet = None if skip_quiet_ms is None else int(skip_quiet_ms * self._per_ms)

    @property
    def buffered_ms(self) -> float:
        with self._lock:
            return len(self._buf) / self._per_ms

    def mark(self) -> int:
        """The ``consumed`` value at which everything buffered now has left."""
        with self._lock:
            return self.consumed + len(self._buf)

    def push(self, data: bytes) -> None:
        with self._lock:
            skip = self._skip_quiet
            if skip is not None and len(self._buf) > skip and is_quiet(data):
                self.skipped_bytes += len(data)
                return
            self._buf += data
            excess = len(self._buf) - self._max
            if excess > 0:
                excess += excess % 2  # stay on sample boundaries
                del self._buf[:excess]
                self.dropped_bytes += excess
                self.consumed += excess

    def clear(self) -> int:
        """Drop all buffered audio; returns how many bytes were dropped."""
        with self._lock:
            n = len(self._buf)
            self._buf.clear()
            self.consumed += n
            self._playing = False
            self._held = 0
            return n

    def read(self, nbytes: int) -> bytes:
        """Exactly ``nbytes`` of audio, silence-padded (driver thread)."""
        with self._lock:
            if not self._playing:
                if not self._buf:
                    return bytes(nbytes)
                if len(self._buf) < self._prefill and self._held < self._prefill:
                    self._held += nbytes
                    return bytes(nbytes)
                self._playing = True
                self._held = 0
            out = bytes(self._buf[:nbytes])
            del self._buf[:nbytes]
            self.consumed += len(out)
            if len(out) < nbytes:
                self.underruns += 1
                self._playing = False
                out += bytes(nbytes - len(out))
            return out


class Speaker:
    """Plays pcm24k on an output device through a ``JitterBuffer`` (an ``AudioPlayback``).

    ``paced``: whether the audio arrives in real time (a WebRTC track) or in bursts (a
    WebSocket); it picks the buffer's limits (:func:`buffer_policy`, :meth:`set_paced`).

    It knows where each assistant item starts in the stream of bytes that left the
    buffer, so :meth:`played_ms` tells the conversation how much of the item playing
    now the person heard (the barge-in truncation point).
    """

    def __init__(
        self,
        device: AudioDevice,
        *,
        spec: str | int | None = None,
        paced: bool = True,
        prefill_ms: int = 60,
    ) -> None:
        self._device = device
        self._spec = spec
        self._paced = paced
        self._prefill_ms = prefill_ms
        self._stream: AudioStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resampler: Pcm16Resampler | None = None
        self._progress = asyncio.Event()
        self._draining = False
        self.info: DeviceInfo | None = None
        self.samplerate = PCM24K_RATE
        self.buffer = self._new_buffer()
        self.interruptions = 0
        # The item being played: its id, and where its audio starts and ends in the
        # buffer's byte stream (``JitterBuffer.mark()`` positions).
        self._item: str | None = None
        self._item_start = 0
        self._item_end = 0
        self._frozen: tuple[str, float] | None = None  # position at the last interrupt

    def open(self) -> None:
        """Select, open and start the output device (call on the event loop thread)."""
        self._loop = asyncio.get_running_loop()
        self.info = select_device(self._device.list_devices(), self._spec, kind="output")
        self.samplerate = choose_rate(self._device, self.info, kind="output")
        if self.samplerate != PCM24K_RATE:
            self._resampler = Pcm16Resampler(
                in_rate=PCM24K_RATE, in_channels=1, out_rate=self.samplerate
            )
        self.buffer = self._new_buffer()
        stream = self._device.open_output(
            self.info,
            samplerate=self.samplerate,
            blocksize=block_frames(self.samplerate),
            callback=self._pull,
        )
        self._stream = stream
        stream.start()

    def _new_buffer(self) -> JitterBuffer:
        max_ms, skip_quiet_ms = buffer_policy(paced=self._paced)
        return JitterBuffer(
            samplerate=self.samplerate,
            max_ms=max_ms,
            prefill_ms=self._prefill_ms,
            skip_quiet_ms=skip_quiet_ms,
        )

    def set_paced(self, *, paced: bool) -> None:
        """Set whether the source is paced in real time (WebRTC) or bursty (WebSocket)."""
        self._paced = paced
        max_ms, skip_quiet_ms = buffer_policy(paced=paced)
        self.buffer.set_limits(max_ms=max_ms, skip_quiet_ms=skip_quiet_ms)

    def _pull(self, frames: int) -> bytes:
        # Driver thread.
        data = self.buffer.read(frames * _SAMPLE_BYTES)
        if self._draining and self._loop is not None:
            post_threadsafe(self._loop, self._progress.set)
        return data

    def play(self, pcm24k: bytes, item_id: str | None = None) -> None:
        pcm = self._resampler.convert(pcm24k) if self._resampler is not None else pcm24k
        if not pcm:
            return
        if item_id is not None and item_id != self._item:
            self._item = item_id
            self._item_start = self.buffer.mark()
            self._item_end = self._item_start
            self._frozen = None
        self.buffer.push(pcm)
        if item_id is not None:
            self._item_end += len(pcm)

    def played_ms(self, item_id: str) -> float | None:
        """Milliseconds of ``item_id`` that left the buffer for the device (None: unknown)."""
        if self._frozen is not None and self._frozen[0] == item_id:
            return self._frozen[1]
        if item_id != self._item:
            return None
        played = min(
            max(self.buffer.consumed - self._item_start, 0), self._item_end - self._item_start
        )
        return played / (self.samplerate * _SAMPLE_BYTES / 1000)

    def interrupt(self) -> None:
        self.interruptions += 1
        item = self._item
        if item is not None:
            played = self.played_ms(item)
            self._frozen = (item, played if played is not None else 0.0)
        dropped = self.buffer.clear()
        logger.debug("barge-in: playback cleared", extra={"dropped_bytes": dropped})

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 (bounded wait)
        """Wait (at most ``timeout`` s) until what is buffered now has been played."""
        target = self.buffer.mark()
        if self._stream is None or self.buffer.consumed >= target:
            return
        self._draining = True
        try:
            async with asyncio.timeout(timeout):
                while self.buffer.consumed < target:
                    self._progress.clear()
                    if self.buffer.consumed >= target:
                        break
                    await self._progress.wait()
        except TimeoutError:
            logger.debug("speaker drain timed out", extra={"timeout_s": timeout})
        finally:
            self._draining = False

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()

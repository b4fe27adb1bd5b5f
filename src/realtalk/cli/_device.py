"""Local sound devices for ``realtalk talk --mic/--speaker``: the logic, not the driver.

The driver is behind a seam: ``AudioDevice`` lists devices and opens raw mono PCM16
streams whose callbacks run on the driver's own thread. The real implementation
(``_sounddevice.py``, PortAudio) is thin; everything that can go wrong in between lives
here and is tested with an in-memory device.

Threads. PortAudio calls stream callbacks on its own thread:

* capture (``MicCapture``) hands each block to the event loop with
  ``loop.call_soon_threadsafe`` into a bounded ``BlockQueue`` (**drop oldest**, counted),
  and a task on the loop resamples to pcm24k and feeds the conversation;
* playback (``Speaker``) reads from a lock-protected ``JitterBuffer`` that the loop
  fills (**drop oldest** beyond ~2 s, silence when empty, cleared on barge-in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from realtalk._errors import ConfigError
from realtalk.transports import PCM24K_RATE, Pcm16Resampler

__all__ = [
    "FRAME_MS",
    "AudioDevice",
    "AudioDeviceError",
    "AudioPlayback",
    "AudioStream",
    "BlockQueue",
    "DeviceInfo",
    "DeviceKind",
    "JitterBuffer",
    "MicCapture",
    "Speaker",
    "block_frames",
    "choose_rate",
    "format_devices",
    "is_quiet",
    "parse_device_spec",
    "select_device",
]

logger = logging.getLogger(__name__)

FRAME_MS = 20
_SAMPLE_BYTES = 2  # mono PCM16
DeviceKind = Literal["input", "output"]
_ROLE = {"input": "microphone", "output": "speaker"}
_FLAG = {"input": "--input-device", "output": "--output-device"}


class AudioDeviceError(ConfigError):
    """Local audio is unavailable: missing library, no such device, or it failed to open."""


@dataclass(frozen=True)
class DeviceInfo:
    """One sound device as the driver reports it."""

    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False

    def channels(self, kind: DeviceKind) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels


class AudioStream(Protocol):
    """An open device stream; callbacks run on the driver's thread once started."""

    def start(self) -> None: ...

    def close(self) -> None:
        """Stop and release the stream (idempotent)."""
        ...


class AudioDevice(Protocol):
    """The sound-device seam: PortAudio in production, buffers in tests."""

    def list_devices(self) -> list[DeviceInfo]: ...

    def supports_rate(self, device: DeviceInfo, *, kind: DeviceKind, samplerate: int) -> bool: ...

    def open_input(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[bytes], None],
    ) -> AudioStream:
        """Open mono PCM16 capture; ``callback`` gets each block's bytes."""
        ...

    def open_output(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[int], bytes],
    ) -> AudioStream:
        """Open mono PCM16 playback; ``callback(frames)`` returns exactly ``frames * 2`` bytes."""
        ...


class AudioPlayback(Protocol):
    """Where the conversation's audio goes (``TalkRuntime`` calls it on the loop thread)."""

    def play(self, pcm24k: bytes) -> None: ...

    def interrupt(self) -> None:
        """The person started talking: drop what has not been played yet."""
        ...


# --- pure helpers ---------------------------------------------------------------------


def block_frames(samplerate: int, ms: int = FRAME_MS) -> int:
    """Frames in one ``ms`` block at ``samplerate`` (20 ms at 24 kHz -> 480)."""
    if samplerate <= 0 or ms <= 0:
        raise ValueError("samplerate and block length must be positive")
    return max(1, samplerate * ms // 1000)


def is_quiet(pcm: bytes, *, threshold: int = 32) -> bool:
    """True when every PCM16 sample is within +-``threshold`` (about -60 dBFS)."""
    samples = memoryview(pcm[: len(pcm) - len(pcm) % 2]).cast("h")
    return max(samples, default=0) <= threshold and min(samples, default=0) >= -threshold


def parse_device_spec(text: str | None) -> str | int | None:
    """``--input-device`` value: an index when it is a number, else a name."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    return int(text) if text.isdigit() else text


def format_devices(devices: list[DeviceInfo], kind: DeviceKind | None = None) -> str:
    """One line per device (``*`` marks a default), filtered to ``kind`` if given."""
    lines = []
    for d in devices:
        if kind is not None and d.channels(kind) < 1:
            continue
        default = (d.is_default_input and kind != "output") or (
            d.is_default_output and kind != "input"
        )
        lines.append(
            f"{'*' if default else ' '} {d.index:3d}: {d.name} "
            f"({d.max_input_channels} in, {d.max_output_channels} out, "
            f"{d.default_samplerate:g} Hz)"
        )
    return "\n".join(lines)


def _no_device(kind: DeviceKind, reason: str, devices: list[DeviceInfo]) -> AudioDeviceError:
    # Without a speaker the conversation still works: say how to go on without one.
    alternative = " (or pass --no-speaker)" if kind == "output" else ""
    choices = format_devices(devices, kind)
    if not choices:
        return AudioDeviceError(f"{reason}; this machine has no audio {kind} devices{alternative}")
    listing = "; ".join(line.strip().lstrip("* ") for line in choices.splitlines())
    return AudioDeviceError(
        f"{reason}; choose one with {_FLAG[kind]} NAME|INDEX{alternative}: {listing} "
        "(realtalk talk --list-devices)"
    )


def select_device(
    devices: list[DeviceInfo], spec: str | int | None, *, kind: DeviceKind
) -> DeviceInfo:
    """Pick the device for ``spec``: the default, an index, or a (unique) name.

    Raises:
        AudioDeviceError: no such device, ambiguous name, or no device of that kind.
    """
    usable = [d for d in devices if d.channels(kind) >= 1]
    role = _ROLE[kind]
    if spec is None:
        for d in usable:
            if d.is_default_input if kind == "input" else d.is_default_output:
                return d
        raise _no_device(kind, f"no default {role} found", devices)
    if isinstance(spec, int):
        for d in usable:
            if d.index == spec:
                return d
        raise _no_device(kind, f"no {role} with index {spec}", devices)
    exact = [d for d in usable if d.name == spec]
    if len(exact) == 1:
        return exact[0]
    matches = [d for d in usable if spec.casefold() in d.name.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise _no_device(kind, f"no {role} named {spec!r}", devices)
    raise _no_device(kind, f"{spec!r} matches several devices", matches)


def choose_rate(device: AudioDevice, info: DeviceInfo, *, kind: DeviceKind) -> int:
    """24 kHz when the device (or the driver's resampler) takes it, else its own rate."""
    if device.supports_rate(info, kind=kind, samplerate=PCM24K_RATE):
        return PCM24K_RATE
    rate = int(info.default_samplerate)
    if rate <= 0:
        raise AudioDeviceError(f"{_ROLE[kind]} {info.name!r} reports no usable sample rate")
    return rate


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object) -> None:
    """Schedule ``callback`` on ``loop`` from a driver thread; a closed loop drops it."""
    # RuntimeError: the loop is shutting down, there is no one left to deliver to.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


# --- capture --------------------------------------------------------------------------


class BlockQueue:
    """Bounded FIFO of captured blocks, used on the loop thread only.

    Overflow policy: **drop oldest** — a consumer that falls behind loses the oldest
    audio (``dropped`` counts blocks; one warning per overflow episode), so what is sent
    stays close to real time.
    """

    def __init__(self, max_blocks: int) -> None:
        if max_blocks < 1:
            raise ValueError("max_blocks must be at least 1")
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(max_blocks)
        self.dropped = 0
        self._overflowing = False

    def __len__(self) -> int:
        return self._queue.qsize()

    def put(self, block: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                logger.warning(
                    "microphone queue full; dropping the oldest audio",
                    extra={"max_blocks": self._queue.maxsize},
                )
        self._queue.put_nowait(block)

    async def get(self) -> bytes:
        block = await self._queue.get()
        if self._queue.empty():
            self._overflowing = False  # caught up: the next overflow warns again
        return block


class MicCapture:
    """Microphone -> pcm24k in 20 ms blocks, delivered to an async or sync sink.

    ``open()`` selects and opens the device (errors surface before any network work);
    ``run(sink)`` starts capture and forwards blocks until cancelled or the sink raises.
    """

    def __init__(
        self,
        device: AudioDevice,
        *,
        spec: str | int | None = None,
        max_queue_ms: int = 1000,
    ) -> None:
        self._device = device
        self._spec = spec
        self._queue = BlockQueue(max(1, max_queue_ms // FRAME_MS))
        self._stream: AudioStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resampler: Pcm16Resampler | None = None
        self.info: DeviceInfo | None = None
        self.samplerate = PCM24K_RATE

    @property
    def dropped_blocks(self) -> int:
        return self._queue.dropped

    def open(self) -> None:
        """Select and open the input device (call on the event loop thread)."""
        self._loop = asyncio.get_running_loop()
        self.info = select_device(self._device.list_devices(), self._spec, kind="input")
        self.samplerate = choose_rate(self._device, self.info, kind="input")
        if self.samplerate != PCM24K_RATE:
            self._resampler = Pcm16Resampler(in_rate=self.samplerate, in_channels=1)
        self._stream = self._device.open_input(
            self.info,
            samplerate=self.samplerate,
            blocksize=block_frames(self.samplerate),
            callback=self._on_block,
        )

    def _on_block(self, data: bytes) -> None:
        # Driver thread: only hand over; all work happens on the loop.
        assert self._loop is not None
        _post(self._loop, self._queue.put, data)

    async def run(self, sink: Callable[[bytes], Awaitable[None] | None]) -> None:
        """Capture until cancelled; each pcm24k block goes to ``sink`` in order."""
        if self._stream is None:
            self.open()
        assert self._stream is not None
        self._stream.start()
        while True:
            block = await self._queue.get()
            pcm = self._resampler.convert(block) if self._resampler is not None else block
            if not pcm:
                continue
            result = sink(pcm)
            if result is not None:
                await result

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()
        if self._queue.dropped:
            logger.info("microphone audio dropped", extra={"blocks": self._queue.dropped})


# --- playback -------------------------------------------------------------------------


class JitterBuffer:
    """Thread-safe playback buffer: the loop pushes, the device thread reads.

    Policies:

    * overflow: beyond ``max_ms`` the oldest audio is dropped (``dropped_bytes``);
    * silence skip: near-silent chunks are discarded while more than ``skip_quiet_ms``
      is buffered, so a continuous stream (WebRTC sends silence between turns) cannot
      build latency out of clock drift between sender and sound card;
    * prefill: playback (re)starts once ``prefill_ms`` is buffered, or once buffered
      audio has waited ``prefill_ms`` of output time (so a short tail still plays);
    * underrun: missing bytes are silence (``underruns`` counts the episodes);
    * ``clear()`` drops everything (barge-in).
    """

    def __init__(
        self,
        *,
        samplerate: int = PCM24K_RATE,
        max_ms: int = 2000,
        prefill_ms: int = 60,
        skip_quiet_ms: int = 100,
    ) -> None:
        per_ms = samplerate * _SAMPLE_BYTES / 1000
        self._max = int(max_ms * per_ms) // 2 * 2
        self._prefill = int(prefill_ms * per_ms)
        self._skip_quiet = int(skip_quiet_ms * per_ms)
        self._per_ms = per_ms
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._playing = False
        self._held = 0
        self.consumed = 0  # bytes that left the buffer: played, dropped or cleared
        self.dropped_bytes = 0
        self.skipped_bytes = 0
        self.underruns = 0

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
            if len(self._buf) > self._skip_quiet and is_quiet(data):
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
    """Plays pcm24k on an output device through a ``JitterBuffer`` (an ``AudioPlayback``)."""

    def __init__(
        self,
        device: AudioDevice,
        *,
        spec: str | int | None = None,
        max_buffer_ms: int = 2000,
        prefill_ms: int = 60,
    ) -> None:
        self._device = device
        self._spec = spec
        self._max_ms = max_buffer_ms
        self._prefill_ms = prefill_ms
        self._stream: AudioStream | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resampler: Pcm16Resampler | None = None
        self._progress = asyncio.Event()
        self._draining = False
        self.buffer = JitterBuffer(max_ms=max_buffer_ms, prefill_ms=prefill_ms)
        self.info: DeviceInfo | None = None
        self.samplerate = PCM24K_RATE
        self.interruptions = 0

    def open(self) -> None:
        """Select, open and start the output device (call on the event loop thread)."""
        self._loop = asyncio.get_running_loop()
        self.info = select_device(self._device.list_devices(), self._spec, kind="output")
        self.samplerate = choose_rate(self._device, self.info, kind="output")
        if self.samplerate != PCM24K_RATE:
            self._resampler = Pcm16Resampler(
                in_rate=PCM24K_RATE, in_channels=1, out_rate=self.samplerate
            )
        self.buffer = JitterBuffer(
            samplerate=self.samplerate, max_ms=self._max_ms, prefill_ms=self._prefill_ms
        )
        stream = self._device.open_output(
            self.info,
            samplerate=self.samplerate,
            blocksize=block_frames(self.samplerate),
            callback=self._pull,
        )
        self._stream = stream
        stream.start()

    def _pull(self, frames: int) -> bytes:
        # Driver thread.
        data = self.buffer.read(frames * _SAMPLE_BYTES)
        if self._draining and self._loop is not None:
            _post(self._loop, self._progress.set)
        return data

    def play(self, pcm24k: bytes) -> None:
        pcm = self._resampler.convert(pcm24k) if self._resampler is not None else pcm24k
        if pcm:
            self.buffer.push(pcm)

    def interrupt(self) -> None:
        self.interruptions += 1
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

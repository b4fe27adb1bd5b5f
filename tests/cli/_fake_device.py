"""An in-memory ``AudioDevice``: the sound-card seam, with buffers instead of hardware.

Tests call ``FakeInput.feed`` and ``FakeOutput.pull`` from a worker thread, the way
PortAudio calls stream callbacks from its own thread.
"""

from __future__ import annotations

import asyncio
import math
import threading
from array import array
from collections.abc import Callable

from realtalk.cli._device import DeviceInfo, DeviceKind, is_quiet
from realtalk.cli._playback import Speaker

MIC = DeviceInfo(1, "Fake USB Mic", 1, 0, 48_000.0, is_default_input=True)
HEADSET = DeviceInfo(2, "Fake Headset", 1, 2, 44_100.0, is_default_output=True)
LINE_IN = DeviceInfo(3, "Line In", 2, 0, 44_100.0)


def tone(seconds: float, *, rate: int = 24_000, hz: float = 300.0, amp: int = 8000) -> bytes:
    n = int(seconds * rate)
    return array(
        "h", (int(amp * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    ).tobytes()


class FakeInput:
    def __init__(self, samplerate: int, blocksize: int, callback: Callable[[bytes], None]) -> None:
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.callback = callback
        self.started = threading.Event()
        self.closed = False

    def start(self) -> None:
        self.started.set()

    def close(self) -> None:
        self.closed = True

    def feed(self, pcm: bytes) -> int:
        """Deliver ``pcm`` in device-sized blocks (call from a non-loop thread)."""
        step = self.blocksize * 2
        count = 0
        for offset in range(0, len(pcm), step):
            self.callback(pcm[offset : offset + step])
            count += 1
        return count


class FakeOutput:
    def __init__(self, samplerate: int, blocksize: int, callback: Callable[[int], bytes]) -> None:
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.callback = callback
        self.started = False
        self.closed = False

    def start(self) -> None:
        self.started = True

    def close(self) -> None:
        self.closed = True

    def pull(self, blocks: int = 1) -> bytes:
        """What the device would play for ``blocks`` blocks."""
        return b"".join(self.callback(self.blocksize) for _ in range(blocks))

    def run_free(self, stop: threading.Event) -> int:
        """Pull blocks as fast as possible until ``stop`` (a clock-less device)."""
        pulled = 0
        while not stop.is_set():
            data = self.callback(self.blocksize)
            assert len(data) == self.blocksize * 2
            pulled += 1
        return pulled


class FakeDevice:
    def __init__(
        self,
        devices: list[DeviceInfo] | None = None,
        *,
        rates: frozenset[int] = frozenset({24_000}),
    ) -> None:
        self.devices = [MIC, HEADSET, LINE_IN] if devices is None else devices
        self.rates = rates
        self.inputs: list[FakeInput] = []
        self.outputs: list[FakeOutput] = []
        self.purposes: list[str] = []

    def factory(self, purpose: str) -> FakeDevice:
        self.purposes.append(purpose)
        return self

    def list_devices(self) -> list[DeviceInfo]:
        return list(self.devices)

    def supports_rate(self, device: DeviceInfo, *, kind: DeviceKind, samplerate: int) -> bool:
        return samplerate in self.rates or samplerate == int(device.default_samplerate)

    def open_input(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[bytes], None],
    ) -> FakeInput:
        stream = FakeInput(samplerate, blocksize, callback)
        self.inputs.append(stream)
        return stream

    def open_output(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[int], bytes],
    ) -> FakeOutput:
        stream = FakeOutput(samplerate, blocksize, callback)
        self.outputs.append(stream)
        return stream


# The most a speaker buffers from a continuous WebRTC track that carries only silence:
# quiet 20 ms chunks are skipped beyond 100 ms (``JitterBuffer.skip_quiet_ms``).
QUIET_MS = 120


class RecordingPlayback:
    """Forwards to the real ``Speaker`` and records what the runtime asked of it."""

    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker
        self.chunks: list[bytes] = []
        self.buffered_at_interrupt: list[float] = []
        self.heard = asyncio.Event()
        self.went_quiet = asyncio.Event()  # quiet audio after the answer (a WebRTC track)
        self.interrupted = asyncio.Event()

    def play(self, pcm24k: bytes, item_id: str | None = None) -> None:
        self.chunks.append(pcm24k)
        if not is_quiet(pcm24k):
            self.heard.set()
        elif self.heard.is_set():
            self.went_quiet.set()
        self.speaker.play(pcm24k, item_id)

    def played_ms(self, item_id: str) -> float | None:
        return self.speaker.played_ms(item_id)

    def interrupt(self) -> None:
        self.buffered_at_interrupt.append(self.speaker.buffer.buffered_ms)
        self.speaker.interrupt()
        assert self.speaker.buffer.buffered_ms == 0
        self.interrupted.set()

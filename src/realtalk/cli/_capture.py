"""Microphone capture: driver-thread blocks -> bounded queue -> pcm24k on the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from realtalk.cli._device import (
    FRAME_MS,
    AudioDevice,
    AudioStream,
    DeviceInfo,
    block_frames,
    choose_rate,
    post_threadsafe,
    select_device,
)
from realtalk.transports import PCM24K_RATE, Pcm16Resampler

__all__ = ["BlockQueue", "MicCapture"]

logger = logging.getLogger(__name__)


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
        post_threadsafe(self._loop, self._queue.put, data)

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

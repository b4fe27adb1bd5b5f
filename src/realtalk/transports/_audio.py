"""Audio plumbing between realtime PCM16 and WebRTC media.

The realtime API speaks 24 kHz mono PCM16 little-endian ("pcm24k" below). WebRTC
receivers hand out decoded Opus as 48 kHz stereo s16 frames, and WAV files come in any
rate. Resampling goes through PyAV's ``AudioResampler`` (libswresample), which keeps
filter state between calls, so streaming converters are objects, not functions. PyAV
is imported when a converter is first built, so importing this module stays cheap
(``realtalk talk --help`` must not load a media stack); the outgoing WebRTC track,
which needs aiortc, is in ``_track``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import wave
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from realtalk._errors import ConfigError

if TYPE_CHECKING:
    from av import AudioFrame, AudioResampler

__all__ = [
    "FRAME_MS",
    "PCM24K_BYTES_PER_MS",
    "PCM24K_RATE",
    "FrameToPcm24k",
    "Pcm16Resampler",
    "WavFormatError",
    "read_wav_pcm24k",
    "resample_pcm16",
    "stream_pcm24k",
]

logger = logging.getLogger(__name__)

PCM24K_RATE = 24_000
PCM24K_BYTES_PER_MS = PCM24K_RATE * 2 // 1000  # mono, 2 bytes per sample -> 48
FRAME_MS = 20
_FRAME_SAMPLES = PCM24K_RATE * FRAME_MS // 1000  # 480
_FRAME_BYTES = _FRAME_SAMPLES * 2  # 960
_LAYOUTS = {1: "mono", 2: "stereo"}
# WAV sample width -> PyAV sample format (8-bit WAV is unsigned; 24-bit is converted first).
_WAV_FORMATS = {1: "u8", 2: "s16", 3: "s16", 4: "s32"}
_FORMAT_WIDTH = {"u8": 1, "s16": 2, "s32": 4}


class WavFormatError(ConfigError):
    """A WAV file could not be read or has an unsupported format."""


def _frame_bytes(frame: AudioFrame) -> bytes:
    # Planes can be padded beyond the samples they hold; cut to the real size.
    size = frame.samples * frame.format.bytes * len(frame.layout.channels)
    return bytes(frame.planes[0])[:size]


class Pcm16Resampler:
    """Streaming converter between interleaved PCM byte streams.

    Bytes that do not complete a sample frame are kept for the next call, so input may
    be split anywhere. Output is always PCM16 (s16) interleaved.
    """

    def __init__(
        self,
        *,
        in_rate: int,
        in_channels: int,
        out_rate: int = PCM24K_RATE,
        out_channels: int = 1,
        in_format: str = "s16",
    ) -> None:
        if in_channels not in _LAYOUTS or out_channels not in _LAYOUTS:
            raise ValueError("only mono and stereo audio are supported")
        if in_format not in _FORMAT_WIDTH:
            raise ValueError(f"unsupported sample format {in_format!r}")
        self._in_rate = in_rate
        self._in_layout = _LAYOUTS[in_channels]
        self._in_format = in_format
        self._in_frame_bytes = _FORMAT_WIDTH[in_format] * in_channels
        from av import AudioResampler

        self._resampler = AudioResampler(format="s16", layout=_LAYOUTS[out_channels], rate=out_rate)
        self._pending = b""

    def convert(self, data: bytes) -> bytes:
        """Convert a chunk; returns whatever output the resampler has ready."""
        data = self._pending + data
        usable = len(data) - len(data) % self._in_frame_bytes
        self._pending = data[usable:]
        if usable == 0:
            return b""
        from av import AudioFrame

        frame = AudioFrame(
            format=self._in_format, layout=self._in_layout, samples=usable // self._in_frame_bytes
        )
        frame.planes[0].update(data[:usable])
        frame.sample_rate = self._in_rate
        return b"".join(_frame_bytes(out) for out in self._resampler.resample(frame))

    def flush(self) -> bytes:
        """Drain the resampler's internal delay line (call once, at end of stream)."""
        return b"".join(_frame_bytes(out) for out in self._resampler.resample(None))


def resample_pcm16(
    data: bytes,
    *,
    in_rate: int,
    in_channels: int,
    out_rate: int = PCM24K_RATE,
    out_channels: int = 1,
) -> bytes:
    """One-shot PCM16 conversion of a complete buffer (flushes the resampler)."""
    if (in_rate, in_channels) == (out_rate, out_channels):
        return data
    converter = Pcm16Resampler(
        in_rate=in_rate, in_channels=in_channels, out_rate=out_rate, out_channels=out_channels
    )
    return converter.convert(data) + converter.flush()


class FrameToPcm24k:
    """Turns decoded ``av.AudioFrame``s of any format into pcm24k bytes (streaming)."""

    def __init__(self) -> None:
        self._resampler: AudioResampler | None = None
        self._input_key: tuple[str, str, int] | None = None

    def convert(self, frame: AudioFrame) -> bytes:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or key != self._input_key:
            # libswresample is configured for one input format; rebuild on a change.
            from av import AudioResampler

            self._resampler = AudioResampler(format="s16", layout="mono", rate=PCM24K_RATE)
            self._input_key = key
        frame.pts = None  # timestamps are irrelevant here and can upset swr's compensation
        return b"".join(_frame_bytes(out) for out in self._resampler.resample(frame))


def _pcm24_to_pcm16(data: bytes) -> bytes:
    # Keep the two most significant bytes of each little-endian 24-bit sample.
    out = bytearray(len(data) // 3 * 2)
    out[0::2] = data[1::3]
    out[1::2] = data[2::3]
    return bytes(out)


def read_wav_pcm24k(path: str | os.PathLike[str]) -> bytes:
    """Read a PCM WAV file (8/16/24/32-bit, mono or stereo, any rate) as pcm24k.

    Raises:
        WavFormatError: the file is missing, not a PCM WAV, or has more than 2 channels.
    """
    try:
        with wave.open(os.fspath(path), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            data = reader.readframes(reader.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise WavFormatError(
            f"could not read WAV file {os.fspath(path)!r}: {exc}; use a PCM WAV file"
        ) from exc
    if channels not in _LAYOUTS or width not in _WAV_FORMATS:
        raise WavFormatError(
            f"unsupported WAV file {os.fspath(path)!r}: {channels} channels, {width * 8}-bit; "
            "use mono or stereo PCM with 8, 16, 24 or 32-bit samples"
        )
    # A truncated file can end mid-frame: keep whole frames only.
    frame_bytes = width * channels
    data = data[: len(data) - len(data) % frame_bytes]
    if width == 3:
        data = _pcm24_to_pcm16(data)
    in_format = _WAV_FORMATS[width]
    if in_format == "s16" and (rate, channels) == (PCM24K_RATE, 1):
        return data
    converter = Pcm16Resampler(in_rate=rate, in_channels=channels, in_format=in_format)
    return converter.convert(data) + converter.flush()


async def stream_pcm24k(
    pcm: bytes,
    sink: Callable[[bytes], Awaitable[None] | None],
    *,
    chunk_ms: int = FRAME_MS,
    lead_ms: int = 100,
) -> float:
    """Feed pcm24k to ``sink`` in ``chunk_ms`` chunks at real-time pace.

    Chunks go out ``lead_ms`` ahead of their play time so a paced consumer (the WebRTC
    track) never runs dry because of timer jitter. Deadlines are absolute, so the pace
    does not drift. Returns the audio duration in seconds.
    """
    loop = asyncio.get_running_loop()
    chunk_bytes = max(2, chunk_ms * PCM24K_BYTES_PER_MS)
    start = loop.time() - lead_ms / 1000
    for index, offset in enumerate(range(0, len(pcm), chunk_bytes)):
        delay = start + index * chunk_ms / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing, not synchronisation
        result = sink(pcm[offset : offset + chunk_bytes])
        if result is not None:
            await result
    return len(pcm) / (PCM24K_BYTES_PER_MS * 1000)

"""One-shot PCM16 mono resampling for the emulator's speech (PyAV's libswresample).

The emulator's own code (it shares none with realtalk's client transports): espeak-ng
speaks at 22,050 Hz and pocketsphinx listens at 16 kHz, while sessions are 24 kHz.
"""

from __future__ import annotations

__all__ = ["resample_mono"]


def resample_mono(pcm: bytes, *, in_rate: int, out_rate: int) -> bytes:
    """Resample a complete mono PCM16 little-endian buffer (flushed: nothing is held back)."""
    usable = len(pcm) - len(pcm) % 2
    if usable == 0:
        return b""
    if in_rate == out_rate:
        return pcm[:usable]
    from av import AudioFrame, AudioResampler  # here: importing the emulator stays cheap

    frame = AudioFrame(format="s16", layout="mono", samples=usable // 2)
    frame.planes[0].update(pcm[:usable])
    frame.sample_rate = in_rate
    resampler = AudioResampler(format="s16", layout="mono", rate=out_rate)
    out = bytearray()
    for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
        out += bytes(resampled.planes[0])[: resampled.samples * 2]
    return bytes(out)

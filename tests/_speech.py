"""Spoken fixtures (espeak-ng, installed by ``make sysdeps``) and measures of output audio.

The measures are written here, independently of the emulator's own code, so a test
that checks "this is speech" does not reuse the function it is checking.
"""

from __future__ import annotations

import math
import subprocess
import sys
from array import array
from pathlib import Path

from realtalk.transports import read_wav_pcm24k

RATE = 24_000
FRAME = RATE // 50  # 20 ms
VOICED_RMS = 300.0


def espeak_wav(path: Path, text: str, *, voice: str = "en", speed: int = 175) -> Path:
    """Write ``text`` spoken by espeak-ng to ``path`` (22,050 Hz mono WAV) and return it."""
    subprocess.run(
        ["espeak-ng", "-w", str(path), "-v", voice, "-s", str(speed), text],
        check=True,
        timeout=30,
        capture_output=True,
    )
    return path


def espeak_pcm24k(tmp_path: Path, text: str, *, voice: str = "en", speed: int = 175) -> bytes:
    """``text`` spoken by espeak-ng, as 24 kHz mono PCM16."""
    return read_wav_pcm24k(espeak_wav(tmp_path / "spoken.wav", text, voice=voice, speed=speed))


def samples(pcm: bytes) -> array[int]:
    values = array("h")
    values.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        values.byteswap()
    return values


def frame_rms(pcm: bytes) -> list[float]:
    """RMS of each 20 ms frame."""
    values = samples(pcm)
    return [
        math.sqrt(sum(s * s for s in values[i : i + FRAME]) / FRAME)
        for i in range(0, len(values) - FRAME + 1, FRAME)
    ]


def voiced_span_s(pcm: bytes) -> float:
    """Seconds from the first to the last frame loud enough to be voice (0 if none)."""
    loud = [i for i, rms in enumerate(frame_rms(pcm)) if rms >= VOICED_RMS]
    return 0.0 if not loud else (loud[-1] - loud[0] + 1) * FRAME / RATE


def envelope_variation(pcm: bytes) -> float:
    """Coefficient of variation of the frame loudness inside the voiced span.

    Speech rises and falls with its syllables (and pauses between words), several
    times a second; a tone or a steady noise keeps one level (about 0).
    """
    levels = frame_rms(pcm)
    loud = [i for i, rms in enumerate(levels) if rms >= VOICED_RMS]
    if len(loud) < 2:
        return 0.0
    span = levels[loud[0] : loud[-1] + 1]
    mean = sum(span) / len(span)
    return math.sqrt(sum((x - mean) ** 2 for x in span) / len(span)) / mean


def pitch_changes(pcm: bytes) -> int:
    """How many distinct zero-crossing rates (rounded to 100 Hz) the voiced frames show.

    One for a pure tone; many for speech, whose pitch and formants keep moving.
    """
    values = samples(pcm)
    rates: set[int] = set()
    for i in range(0, len(values) - FRAME + 1, FRAME):
        chunk = values[i : i + FRAME]
        if math.sqrt(sum(s * s for s in chunk) / FRAME) < VOICED_RMS:
            continue
        crossings = sum(1 for a, b in zip(chunk, chunk[1:], strict=False) if (a < 0) != (b < 0))
        rates.add(round(crossings * 50 / 2 / 100))  # Hz of an equivalent sine, /100
    return len(rates)

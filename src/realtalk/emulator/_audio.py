"""The fallback output tone and a tiny energy VAD (pure: no I/O, no asyncio).

Audio everywhere in the emulator is PCM16 little-endian, 24 kHz, mono.

VAD rules (documented for test authors):

* Input is cut into 20 ms frames (960 bytes); a trailing partial frame is kept until
  the next append completes it.
* A frame is *voiced* when its RMS is >= ``SPEECH_RMS_THRESHOLD`` (500 of 32767,
  about -36 dBFS).
* Silent -> speaking on the first voiced frame (``speech_started`` at the start of
  that frame). Speaking -> silent once ``silence_ms`` of unvoiced audio followed the
  last voiced frame (``speech_stopped`` at the end of the last voiced frame). Time is
  audio time (bytes appended), never wall time.
"""

from __future__ import annotations

import enum
import math
import sys
from array import array
from typing import Final, NamedTuple

__all__ = [
    "BYTES_PER_MS",
    "CHUNK_BYTES",
    "CHUNK_MS",
    "SAMPLE_RATE",
    "SPEECH_RMS_THRESHOLD",
    "TONE_CHUNK",
    "VadAction",
    "VadDetector",
    "VadInput",
    "VadState",
    "VadUpdate",
    "VAD_TRANSITIONS",
    "pcm_rms",
]

SAMPLE_RATE: Final = 24_000
CHUNK_MS: Final = 20
BYTES_PER_MS: Final = SAMPLE_RATE * 2 // 1000  # 48
CHUNK_BYTES: Final = CHUNK_MS * BYTES_PER_MS  # 960
SPEECH_RMS_THRESHOLD: Final = 500.0

_TONE_HZ: Final = 400  # exactly 8 periods per 20 ms chunk, so chunks join without clicks
_TONE_AMPLITUDE: Final = 1_500  # quiet: about -27 dBFS


def _make_tone_chunk() -> bytes:
    samples = array(
        "h",
        (
            round(_TONE_AMPLITUDE * math.sin(2 * math.pi * _TONE_HZ * n / SAMPLE_RATE))
            for n in range(CHUNK_BYTES // 2)
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


TONE_CHUNK: Final = _make_tone_chunk()


def pcm_rms(frame: bytes) -> float:
    """Root mean square of PCM16 little-endian samples (0.0 for an empty frame)."""
    usable = len(frame) - (len(frame) % 2)
    if usable == 0:
        return 0.0
    samples = array("h")
    samples.frombytes(frame[:usable])
    if sys.byteorder == "big":
        samples.byteswap()
    total = sum(s * s for s in samples)
    return math.sqrt(total / len(samples))


class VadState(enum.Enum):
    SILENT = "silent"
    SPEAKING = "speaking"


class VadInput(enum.Enum):
    VOICED = "voiced"
    UNVOICED = "unvoiced"
    HANGOVER_EXPIRED = "hangover_expired"  # unvoiced, and the silence reached silence_ms


class VadAction(enum.Enum):
    NONE = "none"
    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"


VAD_TRANSITIONS: Final[dict[tuple[VadState, VadInput], tuple[VadState, VadAction]]] = {
    (VadState.SILENT, VadInput.VOICED): (VadState.SPEAKING, VadAction.SPEECH_STARTED),
    (VadState.SILENT, VadInput.UNVOICED): (VadState.SILENT, VadAction.NONE),
    (VadState.SILENT, VadInput.HANGOVER_EXPIRED): (VadState.SILENT, VadAction.NONE),
    (VadState.SPEAKING, VadInput.VOICED): (VadState.SPEAKING, VadAction.NONE),
    (VadState.SPEAKING, VadInput.UNVOICED): (VadState.SPEAKING, VadAction.NONE),
    (VadState.SPEAKING, VadInput.HANGOVER_EXPIRED): (VadState.SILENT, VadAction.SPEECH_STOPPED),
}


class VadUpdate(NamedTuple):
    """One state change: ``at_ms`` is audio time since the detector was created."""

    action: VadAction
    at_ms: int


class VadDetector:
    """Feeds appended PCM through :data:`VAD_TRANSITIONS` frame by frame."""

    def __init__(self, *, silence_ms: int = 500, threshold: float = SPEECH_RMS_THRESHOLD) -> None:
        self.silence_ms = silence_ms
        self.threshold = threshold
        self.state = VadState.SILENT
        self._carry = b""
        self._frames_done = 0  # complete frames analysed so far
        self._silence_frames = 0
        self.speech_start_ms = 0
        self.last_voiced_end_ms = 0

    @property
    def audio_ms(self) -> int:
        """Audio time analysed so far (complete frames only)."""
        return self._frames_done * CHUNK_MS

    def reset(self) -> None:
        """Forget an ongoing utterance (explicit commit or clear); keeps the audio clock."""
        self.state = VadState.SILENT
        self._silence_frames = 0

    def feed(self, pcm: bytes) -> list[VadUpdate]:
        """Analyse appended audio and return the state changes it caused, in order."""
        data = self._carry + pcm if self._carry else pcm
        updates: list[VadUpdate] = []
        usable = len(data) - (len(data) % CHUNK_BYTES)
        for offset in range(0, usable, CHUNK_BYTES):
            update = self._frame(data[offset : offset + CHUNK_BYTES])
            if update is not None:
                updates.append(update)
        self._carry = data[usable:]
        return updates

    def _frame(self, frame: bytes) -> VadUpdate | None:
        start_ms = self._frames_done * CHUNK_MS
        self._frames_done += 1
        if pcm_rms(frame) >= self.threshold:
            vad_input = VadInput.VOICED
            self._silence_frames = 0
        else:
            self._silence_frames += 1
            expired = self._silence_frames * CHUNK_MS >= self.silence_ms
            vad_input = VadInput.HANGOVER_EXPIRED if expired else VadInput.UNVOICED
        new_state, action = VAD_TRANSITIONS[(self.state, vad_input)]
        self.state = new_state
        if vad_input is VadInput.VOICED:
            self.last_voiced_end_ms = start_ms + CHUNK_MS
        if action is VadAction.SPEECH_STARTED:
            self.speech_start_ms = start_ms
            return VadUpdate(action, start_ms)
        if action is VadAction.SPEECH_STOPPED:
            self._silence_frames = 0
            return VadUpdate(action, self.last_voiced_end_ms)
        return None

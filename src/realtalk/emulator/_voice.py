"""An answer's audio as the emulator sends it: 20 ms pcm24k chunks and their base64."""

from __future__ import annotations

import base64
from collections import OrderedDict
from typing import Final

from realtalk.emulator._audio import CHUNK_BYTES, TONE_CHUNK

__all__ = ["Tone", "Voice", "speech_chunk_count", "split_chunks", "voice_for"]

_BASE_CHUNKS: Final = 10  # 200 ms
_CHUNKS_PER_WORD: Final = 2  # 40 ms per word
_MAX_CHUNKS: Final = 150  # 3 s


def speech_chunk_count(text: str) -> int:
    """Tone fallback: 20 ms chunks for ``text`` (200 ms + 40 ms per word, max 3 s)."""
    return min(_MAX_CHUNKS, _BASE_CHUNKS + _CHUNKS_PER_WORD * len(text.split()))


class Voice:
    """An answer's audio: its 20 ms pcm chunks (for a media track) and their base64
    (for output deltas), each made on first use. The last chunk is padded with silence."""

    __slots__ = ("_chunks", "_deltas", "count", "pcm")

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm
        self.count = -(-len(pcm) // CHUNK_BYTES)
        self._chunks: list[bytes] | None = None
        self._deltas: list[str] | None = None

    @property
    def chunks(self) -> list[bytes]:
        if self._chunks is None:
            self._chunks = split_chunks(self.pcm)
        return self._chunks

    @property
    def deltas(self) -> list[str]:
        """One base64 encode for the whole answer, then slices (960 bytes, a multiple
        of 3, is 1,280 characters: each chunk's base64 starts on a 4-character boundary)."""
        if self._deltas is None:
            pcm = self.pcm
            padded = pcm + bytes(-len(pcm) % CHUNK_BYTES)
            encoded = base64.b64encode(padded).decode("ascii")
            step = CHUNK_BYTES // 3 * 4
            self._deltas = [encoded[i : i + step] for i in range(0, len(encoded), step)]
        return self._deltas


_TONE_DELTA: Final = base64.b64encode(TONE_CHUNK).decode("ascii")


class Tone(Voice):
    """The tone fallback: ``count`` copies of one chunk."""

    __slots__ = ()

    def __init__(self, count: int) -> None:
        super().__init__(b"")
        self.count = count
        self._chunks = [TONE_CHUNK] * count
        self._deltas = [_TONE_DELTA] * count


_RECENT_VOICES: Final = 4
_RECENT_MAX_PCM: Final = 1 << 20
# The answers spoken last, by (text, voice), so a repeated answer's first delta goes
# out without re-encoding the whole answer first (~0.1 ms for three seconds of speech).
# An entry counts only while the synthesizer still returns the very same pcm object.
_recent: OrderedDict[tuple[str, str], Voice] = OrderedDict()


def voice_for(text: str, voice: str, pcm: bytes) -> Voice:
    """``pcm`` (synthesized for ``text`` in ``voice``) as a :class:`Voice`, reused when
    the same answer was spoken lately."""
    key = (text, voice)
    hit = _recent.get(key)
    if hit is not None and hit.pcm is pcm:
        _recent.move_to_end(key)
        return hit
    made = Voice(pcm)
    if len(pcm) <= _RECENT_MAX_PCM:
        _recent[key] = made
        if len(_recent) > _RECENT_VOICES:
            _recent.popitem(last=False)
    return made


def split_chunks(pcm: bytes) -> list[bytes]:
    """Cut pcm24k into 20 ms chunks; the last one is padded with silence."""
    chunks = [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
    if chunks and len(chunks[-1]) < CHUNK_BYTES:
        chunks[-1] = chunks[-1].ljust(CHUNK_BYTES, b"\x00")
    return chunks

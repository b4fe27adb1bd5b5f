"""An answer's audio: one base64 encode sliced per 20 ms chunk, and recent answers reused."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from realtalk.emulator._audio import CHUNK_BYTES, TONE_CHUNK
from realtalk.emulator._voice import Tone, Voice, split_chunks, voice_for


@given(st.binary(min_size=1, max_size=CHUNK_BYTES * 5 + 7))
def test_deltas_are_each_chunk_in_base64(pcm: bytes) -> None:
    voice = Voice(pcm)
    chunks = split_chunks(pcm)
    assert voice.count == len(chunks)
    assert voice.chunks == chunks
    assert voice.deltas == [base64.b64encode(chunk).decode("ascii") for chunk in chunks]
    assert b"".join(chunks)[: len(pcm)] == pcm  # the tail is silence padding only


def test_tone_repeats_one_chunk() -> None:
    voice = Tone(3)
    assert voice.count == 3
    assert voice.chunks == [TONE_CHUNK] * 3
    assert voice.deltas == [base64.b64encode(TONE_CHUNK).decode("ascii")] * 3


def test_a_repeated_answer_reuses_its_encoding_only_for_the_same_pcm() -> None:
    pcm = bytes(range(256)) * 20
    first = voice_for("hello", "alloy", pcm)
    assert voice_for("hello", "alloy", pcm) is first
    # The synthesizer evicted and re-made it (or another synthesizer made it): new bytes.
    remade = voice_for("hello", "alloy", bytes(bytearray(pcm)))
    assert remade is not first
    assert remade.deltas == first.deltas
    assert voice_for("hello", "echo", pcm) is not remade

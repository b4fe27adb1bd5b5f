"""Input audio buffer: VAD bookkeeping and the events of a committed user audio turn (pure).

The buffer also keeps the turn's audio for speech recognition: the most recent
``MAX_UTTERANCE_S`` seconds, and from ``PRE_ROLL_MS`` before speech started once the
VAD heard it start.
"""

from __future__ import annotations

from typing import Any

from realtalk.emulator._asr import MAX_UTTERANCE_S
from realtalk.emulator._audio import BYTES_PER_MS, VadDetector, VadUpdate
from realtalk.emulator._script import transcript_for_turn
from realtalk.emulator._wire import IdFactory

__all__ = ["PRE_ROLL_MS", "InputBuffer"]

JsonDict = dict[str, Any]
PRE_ROLL_MS = 300
_MAX_AUDIO_BYTES = MAX_UTTERANCE_S * 1000 * BYTES_PER_MS


class InputBuffer:
    """Audio appended since the last commit, the VAD, and the current turn's item id."""

    def __init__(self, ids: IdFactory, *, transcripts: tuple[str, ...]) -> None:
        self._ids = ids
        self._transcripts = transcripts
        self.vad = VadDetector()
        self.buffered_bytes = 0
        self._item_id: str | None = None  # allocated at speech start
        self._speech_ms: int | None = None  # duration of the VAD-detected utterance
        self._turns = 0
        self._audio = bytearray()  # this turn's audio, for recognition (bounded)
        self._appended_bytes = 0  # since the detector was created: audio time * BYTES_PER_MS

    @property
    def wants_recognition(self) -> bool:
        """False when configured transcripts decide every turn (no recognizer needed)."""
        return not self._transcripts

    @property
    def audio(self) -> bytes:
        """The current turn's audio (pcm24k) as far as it is kept."""
        return bytes(self._audio)

    def append(self, pcm: bytes, *, vad: bool) -> list[VadUpdate]:
        self.buffered_bytes += len(pcm)
        self._appended_bytes += len(pcm)
        self._audio += pcm
        if len(self._audio) > _MAX_AUDIO_BYTES:
            del self._audio[: len(self._audio) - _MAX_AUDIO_BYTES]
        return self.vad.feed(pcm) if vad else []

    def _current_item(self) -> str:
        if self._item_id is None:
            self._item_id = self._ids.next("item")
        return self._item_id

    def speech_started_event(self, at_ms: int) -> JsonDict:
        self._item_id = self._ids.next("item")
        self._speech_ms = None
        # Keep the utterance (and a little before it) for recognition, not the silence
        # that came before.
        keep = self._appended_bytes - max(0, at_ms - PRE_ROLL_MS) * BYTES_PER_MS
        if 0 <= keep < len(self._audio):
            del self._audio[: len(self._audio) - keep]
        return {
            "type": "input_audio_buffer.speech_started",
            "audio_start_ms": at_ms,
            "item_id": self._item_id,
        }

    def speech_stopped_event(self, at_ms: int) -> JsonDict:
        self._speech_ms = max(0, at_ms - self.vad.speech_start_ms)
        return {
            "type": "input_audio_buffer.speech_stopped",
            "audio_end_ms": at_ms,
            "item_id": self._current_item(),
        }

    def clear(self) -> None:
        self.buffered_bytes = 0
        self._audio.clear()
        self.vad.reset()
        self._item_id = None
        self._speech_ms = None

    def commit(
        self, previous_item_id: str | None, *, v1: bool, heard: str | None = None
    ) -> tuple[list[JsonDict], JsonDict, str]:
        """Commit the buffer: returns (events, the final user item, its transcript).

        ``heard`` is what speech recognition made of the turn's audio; configured
        transcripts win over it, and without either the transcript is a placeholder.
        """
        item_id = self._current_item()
        duration_ms = (
            self._speech_ms if self._speech_ms is not None else self.buffered_bytes // BYTES_PER_MS
        )
        if heard and not self._transcripts:
            transcript = heard
        else:
            transcript = transcript_for_turn(self._turns, duration_ms, self._transcripts)
        self._turns += 1
        self.buffered_bytes = 0
        self._audio.clear()
        self.vad.reset()
        self._item_id = None
        self._speech_ms = None

        def item(text: str | None) -> JsonDict:
            return {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": text}],
            }

        if v1:
            delta: JsonDict = {
                "type": "conversation.input_transcript.delta",
                "item_id": item_id,
                "delta": transcript,
            }
        else:
            delta = {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item_id,
                "content_index": 0,
                "delta": transcript,
            }
        final = item(transcript)
        events: list[JsonDict] = [
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous_item_id,
                "item_id": item_id,
            },
            {
                "type": "conversation.item.added",
                "previous_item_id": previous_item_id,
                "item": item(None),
            },
            {"type": "conversation.item.done", "previous_item_id": previous_item_id, "item": final},
            delta,
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {"type": "duration", "seconds": duration_ms / 1000},
            },
        ]
        return events, final, transcript

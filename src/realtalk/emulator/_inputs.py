"""Input audio buffer: VAD bookkeeping and the events of a committed user audio turn (pure)."""

from __future__ import annotations

from typing import Any

from realtalk.emulator._audio import BYTES_PER_MS, VadDetector, VadUpdate
from realtalk.emulator._script import transcript_for_turn
from realtalk.emulator._wire import IdFactory

__all__ = ["InputBuffer"]

JsonDict = dict[str, Any]


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

    def append(self, pcm: bytes, *, vad: bool) -> list[VadUpdate]:
        self.buffered_bytes += len(pcm)
        return self.vad.feed(pcm) if vad else []

    def _current_item(self) -> str:
        if self._item_id is None:
            self._item_id = self._ids.next("item")
        return self._item_id

    def speech_started_event(self, at_ms: int) -> JsonDict:
        self._item_id = self._ids.next("item")
        self._speech_ms = None
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
        self.vad.reset()
        self._item_id = None
        self._speech_ms = None

    def commit(
        self, previous_item_id: str | None, *, v1: bool
    ) -> tuple[list[JsonDict], JsonDict, str]:
        """Commit the buffer: returns (events, the final user item, its transcript)."""
        item_id = self._current_item()
        duration_ms = (
            self._speech_ms if self._speech_ms is not None else self.buffered_bytes // BYTES_PER_MS
        )
        transcript = transcript_for_turn(self._turns, duration_ms, self._transcripts)
        self._turns += 1
        self.buffered_bytes = 0
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

"""Where the person stopped hearing the assistant: the played position for barge-in.

Over WebSocket the client receives the assistant's audio faster than it is played, so
the server cannot know what was heard. When the person starts talking
(``input_audio_buffer.speech_started``, whose ``item_id`` is the *new user* item), the
client truncates the *assistant* item it was playing at the played position:
``conversation.item.truncate {item_id, content_index: 0, audio_end_ms}``.

The position comes from the client's playback clock when it has one (a speaker, or the
CLI's ``--audio-out`` virtual speaker: :class:`PlaybackClock`), else from the wall
clock since that item's first audio delta — the rule of the official Agents SDK and
of pipecat (reference-wire-facts 1) — and is always clamped to the audio received, so
the server never sees an ``audio_end_ms`` beyond the item's audio. An item that was
played to its end while no response is active is left alone (nothing unheard).

Pure: the time is an argument, no clock is read here.
"""

from __future__ import annotations

import logging
from typing import Protocol

from realtalk.protocol._events import AudioFrame

__all__ = ["AssistantAudio", "PlaybackClock", "base64_decoded_len", "frame_ms"]

logger = logging.getLogger(__name__)


class PlaybackClock(Protocol):
    """A player that knows how much of each assistant item it has played."""

    def played_ms(self, item_id: str) -> float | None:
        """Milliseconds of ``item_id``'s audio played so far; None if it never saw it."""
        ...


def base64_decoded_len(data: str) -> int:
    """Byte length of base64 ``data`` without decoding it (hot path: every audio delta)."""
    padding = 2 if data.endswith("==") else 1 if data.endswith("=") else 0
    return max(0, len(data) * 3 // 4 - padding)


def frame_ms(frame: AudioFrame) -> float:
    """Duration of one PCM16 frame in milliseconds (hot path: every audio delta)."""
    # Conditional expressions rather than max(): three builtin calls were half its cost.
    samples = frame.samples_per_channel
    if samples is None:
        data = frame.data  # base64_decoded_len, inlined
        size = len(data) * 3 // 4 - (2 if data[-2:] == "==" else 1 if data[-1:] == "=" else 0)
        channels = frame.num_channels
        samples = (size if size > 0 else 0) // 2 // (channels if channels > 1 else 1)
    rate = frame.sample_rate
    return samples * 1000.0 / (rate if rate > 1 else 1)


class AssistantAudio:
    """The assistant item whose audio was received last (the one that is playing)."""

    __slots__ = ("first_at", "item_id", "received_ms")

    def __init__(self) -> None:
        self.item_id: str | None = None
        self.first_at = 0.0  # clock time (seconds) of the item's first delta
        self.received_ms = 0.0

    def on_delta(self, frame: AudioFrame, now: float) -> None:
        """Account one output audio delta (frames without an item id are not tracked)."""
        item_id = frame.item_id
        if item_id is None:
            return
        if item_id == self.item_id:
            self.received_ms += frame_ms(frame)
        else:
            self.item_id = item_id
            self.first_at = now
            self.received_ms = frame_ms(frame)

    def forget(self) -> None:
        self.item_id = None
        self.received_ms = 0.0

    def cut(
        self, now: float, clock: PlaybackClock | None, *, response_active: bool
    ) -> tuple[str, int] | None:
        """``(item_id, audio_end_ms)`` to truncate on barge-in, or None; forgets the item.

        ``audio_end_ms`` is the played position: ``clock``'s, else wall time since the
        first delta, clamped to ``[0, received]`` (whole milliseconds).
        """
        item_id = self.item_id
        if item_id is None:
            return None
        received = self.received_ms
        self.forget()
        played = clock.played_ms(item_id) if clock is not None else None
        source = "player"
        if played is None:
            played, source = (now - self.first_at) * 1000.0, "wall clock"
        if played >= received and not response_active:
            logger.debug("barge-in after the answer was fully played", extra={"item_id": item_id})
            return None
        # Whole milliseconds (the wire wants an int), never past the audio received.
        end_ms = min(round(max(played, 0.0)), int(received))
        logger.debug(
            "barge-in: truncating the assistant item",
            extra={"item_id": item_id, "audio_end_ms": end_ms, "position_from": source},
        )
        return item_id, end_ms

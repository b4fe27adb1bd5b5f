"""The client messages a conversation has decided to send, in order (pure).

Part of :class:`ConversationCore`. Input audio is kept as the frames themselves (the
``input_audio_buffer.append`` message is built when it is taken), and is bounded:
beyond ``audio_limit`` frames waiting, a new frame is dropped with a rate-limited
warning, so a stalled socket cannot grow memory with microphone audio. Every other
message carries a short description of what it is, for the error when sending fails.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Final

from realtalk.protocol._codec import input_audio_append
from realtalk.protocol._events import AudioFrame

__all__ = ["AUDIO", "AUDIO_OUTBOX_LIMIT", "Outbox"]

logger = logging.getLogger(__name__)

AUDIO_OUTBOX_LIMIT: Final = 256
"""Input audio frames waiting to be sent; beyond it new frames are dropped (logged)."""
AUDIO: Final = "input audio"


class Outbox:
    """A FIFO of client messages with a bound on queued input audio."""

    __slots__ = ("_audio", "_dropped", "_items", "_limit", "last")

    def __init__(self, audio_limit: int = AUDIO_OUTBOX_LIMIT) -> None:
        self._items: deque[tuple[str, dict[str, Any]] | AudioFrame] = deque()
        self._limit = audio_limit
        self._audio = 0  # frames waiting
        self._dropped = 0
        self.last = ""
        """What the message last returned by :meth:`take` is (e.g. ``input text``)."""

    def __len__(self) -> int:
        return len(self._items)

    @property
    def control(self) -> int:
        """Messages waiting other than input audio."""
        return len(self._items) - self._audio

    def put(self, message: dict[str, Any], what: str) -> None:
        self._items.append((what, message))

    def put_audio(self, frame: AudioFrame) -> bool:
        """Queue an input audio frame; False (and a warning now and then) when full."""
        if self._audio >= self._limit:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 100 == 0:
                logger.warning(
                    "dropping input audio frame due to full queue",
                    extra={"dropped_total": self._dropped},
                )
            return False
        self._items.append(frame)
        self._audio += 1
        return True

    def take(self) -> dict[str, Any] | None:
        """The next message to send, or None."""
        if not self._items:
            return None
        item = self._items.popleft()
        if type(item) is AudioFrame:
            self._audio -= 1
            self.last = AUDIO
            return input_audio_append(item.data)
        assert type(item) is tuple
        self.last, message = item
        return message

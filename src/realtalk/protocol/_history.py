"""What was said in a conversation, kept so a new realtime session can continue it (pure).

Part of :class:`ConversationCore`. One entry per finished message, in conversation
order:

* typed user text (``user_text``), as typed (``typed``);
* a spoken user turn, by its final input transcript (``spoken``). The server may finish
  a transcript after the answer to it started, so a transcript is placed before the
  answers recorded since that turn's speech started;
* an assistant answer, by its final transcript (audio) or its text (``answer``);
* an update of the background agent, as it was sent to the model (``agent``: the v2
  ``[BACKEND] `` item; a v1 append is spoken, so its transcript is the ``answer``).

Tool calls, steering acknowledgements and ``remain_silent`` are not kept: what the agent
said is in the ``agent`` entries. The history is bounded (:data:`HISTORY_LIMIT` entries);
the oldest are dropped and counted.
"""

from __future__ import annotations

from collections import deque
from typing import Final, Literal

import msgspec

__all__ = ["HISTORY_LIMIT", "History", "HistoryEntry", "HistorySource"]

HISTORY_LIMIT: Final = 1000
"""Entries kept; a restore replays far fewer (see ``realtalk.protocol._restore``)."""

HistorySource = Literal["typed", "spoken", "answer", "agent"]


class HistoryEntry(msgspec.Struct, frozen=True):
    """One message of the conversation (``role`` is ``user`` or ``assistant``)."""

    role: Literal["user", "assistant"]
    text: str
    source: HistorySource


class History:
    """The conversation's messages, oldest first (see the module docstring)."""

    __slots__ = ("_entries", "_speech_mark", "dropped")

    def __init__(self, entries: tuple[HistoryEntry, ...] = (), dropped: int = 0) -> None:
        self._entries: deque[HistoryEntry] = deque(entries[-HISTORY_LIMIT:])
        self.dropped = dropped + max(0, len(entries) - HISTORY_LIMIT)
        self._speech_mark: int | None = None  # entries when the current speech started

    @property
    def entries(self) -> tuple[HistoryEntry, ...]:
        return tuple(self._entries)

    def _add(self, entry: HistoryEntry, at: int | None = None) -> None:
        if not entry.text.strip():
            return
        if at is None or at >= len(self._entries):
            self._entries.append(entry)
        else:
            self._entries.insert(at, entry)
        if len(self._entries) > HISTORY_LIMIT:
            self._entries.popleft()
            self.dropped += 1
            if self._speech_mark:
                self._speech_mark -= 1

    def typed(self, text: str) -> None:
        self._add(HistoryEntry("user", text, "typed"))

    def speech_started(self) -> None:
        self._speech_mark = len(self._entries)

    def spoken(self, text: str) -> None:
        at, self._speech_mark = self._speech_mark, None
        self._add(HistoryEntry("user", text, "spoken"), at)

    def answer(self, text: str) -> None:
        self._add(HistoryEntry("assistant", text, "answer"))

    def agent(self, text: str) -> None:
        self._add(HistoryEntry("user", text, "agent"))

"""The memory thread store: threads in this process only (tests, ``--ephemeral``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec

from realtalk._errors import StoreError, ThreadBusyError, ThreadNotFoundError
from realtalk.app_server._store import (
    Item,
    LoadedThread,
    StoredTurn,
    StoreLimits,
    ThreadArchivedError,
    ThreadPage,
    ThreadQuery,
    ThreadRecord,
    TranscriptLine,
    cap_text,
    cap_turn,
    decode_cursor,
    encode_cursor,
    history_cut,
    is_turn_start,
    now_ms,
)

__all__ = ["MemoryThreadStore"]


class _MemoryThread:
    def __init__(self, record: ThreadRecord, seq: int) -> None:
        self.record = record
        self.seq = seq
        self.turns: list[StoredTurn] = []
        self.history: list[Item] = []
        self.transcript: list[TranscriptLine] = []


class MemoryThreadStore:
    """Threads in this process's memory: gone when it exits (tests, ``--ephemeral``)."""

    def __init__(
        self, limits: StoreLimits | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._limits = limits or StoreLimits()
        self._clock = clock
        self._threads: dict[str, _MemoryThread] = {}
        self._claimed: set[str] = set()
        self._seq = 0

    @property
    def node_id(self) -> str:
        return "this app-server (memory)"

    @property
    def limits(self) -> StoreLimits:
        return self._limits

    def _get(self, thread_id: str) -> _MemoryThread:
        thread = self._threads.get(thread_id)
        if thread is None:
            raise ThreadNotFoundError(f"thread not found: {thread_id}")
        return thread

    def _owned(self, thread_id: str) -> _MemoryThread:
        thread = self._get(thread_id)
        if thread_id not in self._claimed:
            raise ThreadBusyError(f"thread {thread_id} is not open in this app-server")
        thread.record = msgspec.structs.replace(thread.record, updated_ms=now_ms(self._clock))
        return thread

    async def create(self, record: ThreadRecord) -> None:
        if record.id in self._threads:
            raise StoreError(f"thread {record.id} already exists")
        self._seq += 1
        self._threads[record.id] = _MemoryThread(record, self._seq)
        self._claimed.add(record.id)

    async def claim(self, thread_id: str) -> LoadedThread:
        thread = self._get(thread_id)
        if thread.record.archived_ms is not None:
            raise ThreadArchivedError(
                f"thread {thread_id} is archived; send thread/unarchive first"
            )
        if thread_id in self._claimed:
            raise ThreadBusyError(
                f"thread {thread_id} is already open on another connection of this app-server"
            )
        self._claimed.add(thread_id)
        return self._snapshot(thread, None, None)

    async def release(self, thread_id: str) -> None:
        self._claimed.discard(thread_id)

    async def update(self, record: ThreadRecord) -> None:
        thread = self._owned(record.id)
        thread.record = msgspec.structs.replace(
            record,
            created_ms=thread.record.created_ms,
            updated_ms=thread.record.updated_ms,
            archived_ms=thread.record.archived_ms,
        )

    async def save_turn(self, thread_id: str, turn: StoredTurn) -> None:
        thread = self._owned(thread_id)
        stored = StoredTurn(
            turn=cap_turn(turn.turn, self._limits.max_text_chars), created_ms=turn.created_ms
        )
        for index, existing in enumerate(thread.turns):
            if existing.turn.id == turn.turn.id:
                thread.turns[index] = msgspec.structs.replace(
                    stored, created_ms=existing.created_ms
                )
                return
        thread.turns.append(stored)
        del thread.turns[: -self._limits.max_turns]

    async def append_history(self, thread_id: str, items: Sequence[Item]) -> None:
        thread = self._owned(thread_id)
        thread.history.extend(items)
        sizes = [len(msgspec.json.encode(item)) for item in thread.history]
        starts = [is_turn_start(item) for item in thread.history]
        del thread.history[: history_cut(sizes, starts, self._limits.max_history_bytes)]

    async def append_transcript(self, thread_id: str, lines: Sequence[TranscriptLine]) -> None:
        thread = self._owned(thread_id)
        limit = self._limits.max_text_chars
        thread.transcript.extend(
            msgspec.structs.replace(line, text=cap_text(line.text, limit)) for line in lines
        )
        del thread.transcript[: -self._limits.max_transcript_lines]

    async def load(
        self,
        thread_id: str,
        *,
        last_turns: int | None = None,
        last_lines: int | None = None,
        with_history: bool = True,
    ) -> LoadedThread:
        loaded = self._snapshot(self._get(thread_id), last_turns, last_lines)
        return loaded if with_history else msgspec.structs.replace(loaded, history=[])

    def _snapshot(
        self, thread: _MemoryThread, last_turns: int | None, last_lines: int | None
    ) -> LoadedThread:
        turns = thread.turns if last_turns is None else thread.turns[-last_turns:]
        lines = thread.transcript if last_lines is None else thread.transcript[-last_lines:]
        return LoadedThread(
            record=thread.record,
            turns=list(turns) if last_turns != 0 else [],
            history=list(thread.history),
            transcript=list(lines) if last_lines != 0 else [],
        )

    async def list_threads(self, query: ThreadQuery) -> ThreadPage:
        by_updated = query.sort_key == "updated_at"
        after = None if query.cursor is None else decode_cursor(query.cursor, query.sort_key)

        def key(t: _MemoryThread) -> tuple[int, int]:
            return (t.record.updated_ms if by_updated else t.record.created_ms, t.seq)

        chosen = [
            t
            for t in self._threads.values()
            if (t.record.archived_ms is not None) == query.archived
            and (query.cwd is None or t.record.cwd == query.cwd)
            and (not query.model_providers or t.record.model_provider in query.model_providers)
            and (query.search_term is None or query.search_term in t.record.preview)
            and (after is None or key(t) < after)
        ]
        chosen.sort(key=key, reverse=True)
        page = chosen[: query.limit]
        more = len(chosen) > len(page)
        cursor = encode_cursor(query.sort_key, *key(page[-1])) if more and page else None
        return ThreadPage(records=[t.record for t in page], next_cursor=cursor)

    async def set_archived(self, thread_id: str, *, archived: bool) -> ThreadRecord:
        thread = self._get(thread_id)
        stamp = now_ms(self._clock) if archived else None
        if (thread.record.archived_ms is None) == (stamp is None):
            return thread.record  # already so
        thread.record = msgspec.structs.replace(thread.record, archived_ms=stamp)
        return thread.record

    async def aclose(self) -> None:
        self._claimed.clear()

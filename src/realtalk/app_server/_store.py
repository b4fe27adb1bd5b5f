"""Where app-server threads live between runs: the store interface and its memory store.

A thread is stored as four parts: its record (workspace, model, instructions,
preview, timestamps, archived flag, lease), its turns (the ``Turn`` objects the
client saw, items and statuses included), its agent history (the built-in agent's
Responses items, so a resumed agent remembers) and its realtime transcript (the
finished user and assistant lines of its realtime conversations).

Two implementations share this interface: :class:`MemoryThreadStore` (tests, and
``--ephemeral``) and :class:`~realtalk.app_server.SqliteThreadStore` (the default,
a file under ``$XDG_STATE_HOME/realtalk/``). ``docs/scaling.md`` sketches a third,
Postgres, for several app-server nodes.

**Ownership.** A loaded thread is *claimed* by one store instance (one app-server
process): :meth:`ThreadStore.claim` refuses a thread another instance holds, or
that another connection of the same instance holds, with
:class:`~realtalk.ThreadBusyError`. Every write checks that the writer still holds
the thread (a fencing check), so a server that lost its claim cannot overwrite the
new owner's turns. Claims across processes are leases (see the SQLite store).

**Bounds** (:class:`StoreLimits`): a thread keeps its newest ``max_turns`` turns
and ``max_transcript_lines`` transcript lines; a stored string longer than
``max_text_chars`` is cut (with a marker); the agent history keeps its newest
items within ``max_history_bytes`` of JSON, cut only where a user message starts
(so every kept tool call keeps its output). One turn larger than the budget is
kept whole. Threads themselves are never deleted (archiving hides them).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import msgspec

from realtalk._errors import StoreError, ThreadBusyError, ThreadNotFoundError
from realtalk.app_server._api import ThreadSortKey, Turn

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "InvalidCursorError",
    "Item",
    "LoadedThread",
    "MemoryThreadStore",
    "StoreLimits",
    "StoredTurn",
    "ThreadArchivedError",
    "ThreadPage",
    "ThreadQuery",
    "ThreadRecord",
    "ThreadStore",
    "TranscriptLine",
    "cap_text",
    "cap_turn",
    "decode_cursor",
    "encode_cursor",
    "history_cut",
    "is_turn_start",
    "now_ms",
]

Item = dict[str, Any]
"""One Responses API input item of the agent history."""

DEFAULT_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100
_CUT_MARKER: Final = "\n[... cut: too long to store]"


class InvalidCursorError(StoreError):
    """A ``thread/list`` cursor this store did not hand out."""


class ThreadArchivedError(StoreError):
    """The thread is archived (unarchive it to resume it)."""


@dataclass(frozen=True, kw_only=True)
class StoreLimits:
    """What one thread may hold (see the module docs); the defaults suit production."""

    max_turns: int = 500
    max_transcript_lines: int = 2_000
    max_text_chars: int = 64_000
    max_history_bytes: int = 1_000_000
    """About 250k tokens: more than a model's context window holds anyway."""
    lease_ttl_s: float = 30.0
    """A claim not renewed for this long is free (its process is taken for dead)."""


class ThreadRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored thread's metadata (times in Unix milliseconds)."""

    id: str
    cwd: str
    model: str
    model_provider: str
    instructions: str
    preview: str = ""
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    """Other thread settings, kept as given (forward compatible)."""


class StoredTurn(msgspec.Struct, frozen=True, kw_only=True):
    turn: Turn
    created_ms: int


class TranscriptLine(msgspec.Struct, frozen=True, kw_only=True):
    role: Literal["user", "assistant"]
    text: str
    at_ms: int


class LoadedThread(msgspec.Struct, frozen=True, kw_only=True):
    record: ThreadRecord
    turns: list[StoredTurn]
    """Oldest first."""
    history: list[Item]
    transcript: list[TranscriptLine]
    """Oldest first."""


class ThreadQuery(msgspec.Struct, frozen=True, kw_only=True):
    cursor: str | None = None
    limit: int = DEFAULT_PAGE_SIZE
    sort_key: ThreadSortKey = "created_at"
    archived: bool = False
    cwd: str | None = None
    model_providers: tuple[str, ...] = ()
    search_term: str | None = None


class ThreadPage(msgspec.Struct, frozen=True, kw_only=True):
    records: list[ThreadRecord]
    next_cursor: str | None


class ThreadStore(Protocol):
    """Thread persistence for one app-server; every method may raise :class:`StoreError`."""

    @property
    def node_id(self) -> str:
        """Who claims threads through this store (shown when another one is refused)."""
        ...

    @property
    def limits(self) -> StoreLimits: ...

    async def create(self, record: ThreadRecord) -> None:
        """Store a new thread, claimed by this store."""
        ...

    async def claim(self, thread_id: str) -> LoadedThread:
        """Claim a stored thread and load it.

        Raises:
            ThreadNotFoundError: No such thread.
            ThreadArchivedError: It is archived.
            ThreadBusyError: Another store (or this one) holds it.
        """
        ...

    async def release(self, thread_id: str) -> None:
        """Give up the claim (the thread stays stored). Never raises for an unknown id."""
        ...

    async def update(self, record: ThreadRecord) -> None:
        """Replace a claimed thread's metadata (not its times or archived flag)."""
        ...

    async def save_turn(self, thread_id: str, turn: StoredTurn) -> None:
        """Insert the turn, or replace the stored turn with its id."""
        ...

    async def append_history(self, thread_id: str, items: Sequence[Item]) -> None: ...

    async def append_transcript(self, thread_id: str, lines: Sequence[TranscriptLine]) -> None: ...

    async def load(
        self, thread_id: str, *, last_turns: int | None = None, last_lines: int | None = None
    ) -> LoadedThread:
        """Read a thread without claiming it (its newest turns / lines when limited).

        Raises:
            ThreadNotFoundError: No such thread.
        """
        ...

    async def list_threads(self, query: ThreadQuery) -> ThreadPage:
        """A page of threads, newest first.

        Raises:
            InvalidCursorError: ``query.cursor`` is not one this store handed out.
        """
        ...

    async def set_archived(self, thread_id: str, *, archived: bool) -> ThreadRecord:
        """Archive or unarchive a thread no other store holds.

        Raises:
            ThreadNotFoundError: No such thread.
            ThreadBusyError: Another store holds it.
        """
        ...

    async def aclose(self) -> None:
        """Release every claim and close. Idempotent."""
        ...


# -- helpers shared by the stores ---------------------------------------------------------


def encode_cursor(sort_key: ThreadSortKey, value_ms: int, seq: int) -> str:
    raw = msgspec.json.encode([sort_key, value_ms, seq])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort_key: ThreadSortKey) -> tuple[int, int]:
    """``(value_ms, seq)`` of a cursor made for ``sort_key``.

    Raises:
        InvalidCursorError: Anything else.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, value, seq = msgspec.json.decode(raw, type=tuple[str, int, int])
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursorError(
            "invalid thread/list cursor; pass the nextCursor of the previous page"
        ) from exc
    if key != sort_key:
        raise InvalidCursorError(
            f"this cursor pages threads by {key}; send the same sortKey as the first page"
        )
    return value, seq


def is_turn_start(item: Item) -> bool:
    """A user message: the agent history may be cut right before it."""
    return item.get("type", "message") == "message" and item.get("role") == "user"


def history_cut(sizes: Sequence[int], starts: Sequence[bool], budget: int) -> int:
    """Index of the first history item to keep within ``budget`` bytes.

    The earliest turn start whose suffix fits; when none fits, the last turn start
    (the newest turn is kept whole); 0 when everything fits.
    """
    remaining = sum(sizes)
    if remaining <= budget:
        return 0
    last_start = 0
    for index, size in enumerate(sizes):
        if starts[index]:
            if remaining <= budget:
                return index
            last_start = index
        remaining -= size
    return last_start


_KEYS_KEPT: Final = frozenset({"type", "id", "status", "role"})
"""Structural fields: never cut (a cut one would not decode)."""


def _cap(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + _CUT_MARKER
    if isinstance(value, list):
        return [_cap(v, limit) for v in value]
    if isinstance(value, dict):
        return {k: v if k in _KEYS_KEPT else _cap(v, limit) for k, v in value.items()}
    return value


def cap_turn(turn: Turn, limit: int) -> Turn:
    """``turn`` with every string longer than ``limit`` cut (items of any type)."""
    return msgspec.convert(_cap(msgspec.to_builtins(turn), limit), Turn)


def cap_text(text: str, limit: int) -> str:
    result: str = _cap(text, limit)
    return result


def now_ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


# -- the memory store ----------------------------------------------------------------------


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
        self, thread_id: str, *, last_turns: int | None = None, last_lines: int | None = None
    ) -> LoadedThread:
        return self._snapshot(self._get(thread_id), last_turns, last_lines)

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

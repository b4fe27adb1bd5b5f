"""Where app-server threads live between runs: the store interface and its memory store.

A thread is stored as four parts: its record (workspace, model, instructions,
preview, timestamps, archived flag, lease), its turns (the ``Turn`` objects the
client saw, items and statuses included), its agent history (the built-in agent's
Responses items, so a resumed agent remembers) and its realtime transcript (the
finished user and assistant lines of its realtime conversations).

Two implementations share this interface: :class:`~realtalk.app_server.MemoryThreadStore`
(tests, and ``--ephemeral``) and :class:`~realtalk.app_server.SqliteThreadStore` (the default,
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import msgspec

from realtalk._errors import StoreError
from realtalk.app_server._api import ThreadSortKey, Turn

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "InvalidCursorError",
    "Item",
    "LoadedThread",
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
        self,
        thread_id: str,
        *,
        last_turns: int | None = None,
        last_lines: int | None = None,
        with_history: bool = True,
    ) -> LoadedThread:
        """Read a thread without claiming it (its newest turns / lines when limited;
        ``history`` empty unless ``with_history``).

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

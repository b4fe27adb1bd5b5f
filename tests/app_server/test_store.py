"""The thread stores, memory and SQLite, through the one interface: records, turns,
agent history, transcript, bounds, pagination, archiving and claims."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from realtalk import StoreError, ThreadBusyError, ThreadNotFoundError
from realtalk.app_server._api import AgentMessageItem, TextInput, Turn, UserMessageItem
from realtalk.app_server._store import (
    InvalidCursorError,
    StoredTurn,
    StoreLimits,
    ThreadArchivedError,
    ThreadQuery,
    ThreadRecord,
    ThreadStore,
    TranscriptLine,
    history_cut,
)
from realtalk.app_server._store_memory import MemoryThreadStore
from realtalk.app_server._store_sqlite import SqliteThreadStore


class Clock:
    """A settable clock (seconds), so times and lease ends are exact."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


StoreFactory = Callable[..., Awaitable[ThreadStore]]


@pytest.fixture(params=["memory", "sqlite"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    stores: list[ThreadStore] = []

    async def make(**kwargs: Any) -> ThreadStore:
        store: ThreadStore
        if request.param == "memory":
            store = MemoryThreadStore(**kwargs)
        else:
            store = await SqliteThreadStore.open(tmp_path / "state" / "threads.sqlite3", **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.aclose()


def record(thread_id: str, clock: Clock, **overrides: Any) -> ThreadRecord:
    ms = int(clock() * 1000)
    values: dict[str, Any] = {
        "id": thread_id,
        "cwd": "/work",
        "model": "agent-model",
        "model_provider": "openai",
        "instructions": "be brief",
        "created_ms": ms,
        "updated_ms": ms,
    }
    values.update(overrides)
    return ThreadRecord(**values)


def turn(turn_id: str, ask: str, answer: str | None = None, status: str = "completed") -> Turn:
    items: list[Any] = [UserMessageItem(id=f"{turn_id}-u", content=[TextInput(text=ask)])]
    if answer is not None:
        items.append(AgentMessageItem(id=f"{turn_id}-a", text=answer))
    return Turn(id=turn_id, status=status, items=items)  # type: ignore[arg-type]


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def reply(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }


async def test_a_thread_round_trips_turns_history_and_transcript(make_store: StoreFactory) -> None:
    clock = Clock()
    store = await make_store(clock=clock)
    await store.create(record("thr_a", clock, settings={"sandbox": "readOnly"}))
    await store.save_turn(
        "thr_a", StoredTurn(turn=turn("t1", "hi", status="inProgress"), created_ms=1)
    )
    await store.save_turn("thr_a", StoredTurn(turn=turn("t2", "next"), created_ms=2))
    # The same turn again (it completed) replaces the stored one and keeps its place.
    await store.save_turn("thr_a", StoredTurn(turn=turn("t1", "hi", "hello"), created_ms=9))
    await store.append_history("thr_a", [user("hi"), reply("hello")])
    await store.append_history("thr_a", [user("next")])
    lines = [TranscriptLine(role="user", text="spoken", at_ms=5)]
    await store.append_transcript("thr_a", lines)
    await store.update(
        record("thr_a", clock, preview="hi", model="other-model", settings={"sandbox": "readOnly"})
    )
    await store.release("thr_a")

    loaded = await store.claim("thr_a")
    assert [t.turn.id for t in loaded.turns] == ["t1", "t2"]
    assert loaded.turns[0].turn == turn("t1", "hi", "hello") and loaded.turns[0].created_ms == 1
    assert loaded.history == [user("hi"), reply("hello"), user("next")]
    assert loaded.transcript == lines
    assert loaded.record.preview == "hi" and loaded.record.model == "other-model"
    assert loaded.record.settings == {"sandbox": "readOnly"}
    newest = await store.load("thr_a", last_turns=1, last_lines=0)
    assert [t.turn.id for t in newest.turns] == ["t2"] and newest.transcript == []


async def test_claims_are_exclusive_and_unknown_ids_are_not_found(make_store: StoreFactory) -> None:
    clock = Clock()
    store = await make_store(clock=clock)
    await store.create(record("thr_a", clock))
    with pytest.raises(ThreadBusyError, match="another connection of this app-server"):
        await store.claim("thr_a")
    with pytest.raises(ThreadNotFoundError, match="thr_nope"):
        await store.claim("thr_nope")
    with pytest.raises(ThreadNotFoundError):
        await store.load("thr_nope")
    await store.release("thr_nope")  # never raises
    await store.release("thr_a")
    await store.claim("thr_a")


async def test_writes_need_the_claim(make_store: StoreFactory) -> None:
    clock = Clock()
    store = await make_store(clock=clock)
    await store.create(record("thr_a", clock))
    await store.release("thr_a")
    with pytest.raises(ThreadBusyError):
        await store.save_turn("thr_a", StoredTurn(turn=turn("t1", "x"), created_ms=1))
    with pytest.raises(ThreadBusyError):
        await store.append_history("thr_a", [user("x")])


async def test_turns_and_transcript_keep_the_newest_and_cut_long_text(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    limits = StoreLimits(max_turns=3, max_transcript_lines=2, max_text_chars=10)
    store = await make_store(clock=clock, limits=limits)
    await store.create(record("thr_a", clock))
    for n in range(5):
        await store.save_turn("thr_a", StoredTurn(turn=turn(f"t{n}", f"ask {n}"), created_ms=n))
    await store.save_turn("thr_a", StoredTurn(turn=turn("big", "x" * 50), created_ms=9))
    lines = [TranscriptLine(role="user", text=f"line {n}", at_ms=n) for n in range(4)]
    await store.append_transcript(
        "thr_a", [*lines, TranscriptLine(role="assistant", text="y" * 30, at_ms=9)]
    )
    loaded = await store.load("thr_a")
    assert [t.turn.id for t in loaded.turns] == ["t3", "t4", "big"]
    big = loaded.turns[-1].turn.items[0]
    assert isinstance(big, UserMessageItem)
    assert big.content[0].text.startswith("x" * 10) and "cut" in big.content[0].text
    assert len(big.content[0].text) < 50
    assert [ln.text[:6] for ln in loaded.transcript] == ["line 3", "y" * 6]


def test_history_is_cut_where_a_user_message_starts() -> None:
    starts = [True, False, False, True, False, True, False]
    sizes = [10, 10, 10, 10, 10, 10, 10]
    assert history_cut(sizes, starts, 100) == 0  # everything fits
    assert history_cut(sizes, starts, 40) == 3  # 40 bytes from the second turn on
    assert history_cut(sizes, starts, 39) == 5
    assert history_cut(sizes, starts, 5) == 5  # the newest turn is kept whole


async def test_agent_history_keeps_whole_turns_within_its_budget(make_store: StoreFactory) -> None:
    clock = Clock()
    size = sum(len(msgspec.json.encode(i)) for i in [user("a" * 100), reply("b" * 100)])
    # Room for two turns and a bit: the oldest two go, whole.
    store = await make_store(clock=clock, limits=StoreLimits(max_history_bytes=2 * size + 50))
    await store.create(record("thr_a", clock))
    for n in range(4):
        await store.append_history("thr_a", [user(f"{n}" * 100), reply(f"{n}" * 100)])
    history = (await store.load("thr_a")).history
    assert history == [user("2" * 100), reply("2" * 100), user("3" * 100), reply("3" * 100)]


async def test_list_pages_newest_first_without_gaps_or_repeats(make_store: StoreFactory) -> None:
    clock = Clock()
    store = await make_store(clock=clock)
    for n in range(7):
        clock.t += 1 if n % 2 else 0  # some threads share a millisecond: seq breaks ties
        await store.create(record(f"thr_{n}", clock, preview=f"task {n}"))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list_threads(ThreadQuery(limit=3, cursor=cursor))
        seen += [r.id for r in page.records]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"thr_{n}" for n in reversed(range(7))]
    exact = await store.list_threads(ThreadQuery(limit=7))
    assert len(exact.records) == 7 and exact.next_cursor is None


async def test_list_filters_archived_cwd_provider_and_search(make_store: StoreFactory) -> None:
    clock = Clock()
    store = await make_store(clock=clock)
    await store.create(record("thr_a", clock, preview="Fix the flaky test", cwd="/a"))
    clock.t += 1
    await store.create(record("thr_b", clock, preview="write docs", model_provider="other"))
    clock.t += 1
    await store.create(record("thr_c", clock, preview="fix the build"))
    await store.release("thr_c")
    archived = await store.set_archived("thr_c", archived=True)
    assert archived.archived_ms == int(clock() * 1000)

    async def ids(**query: Any) -> list[str]:
        return [r.id for r in (await store.list_threads(ThreadQuery(**query))).records]

    assert await ids() == ["thr_b", "thr_a"]
    assert await ids(archived=True) == ["thr_c"]
    assert await ids(cwd="/a") == ["thr_a"]
    assert await ids(model_providers=("other",)) == ["thr_b"]
    assert await ids(search_term="fix") == []  # case-sensitive, archived excluded
    assert await ids(search_term="Fix") == ["thr_a"]
    with pytest.raises(ThreadArchivedError, match="thread/unarchive"):
        await store.claim("thr_c")
    restored = await store.set_archived("thr_c", archived=False)
    assert restored.archived_ms is None
    assert await ids() == ["thr_c", "thr_b", "thr_a"]


async def test_list_by_update_time_and_bad_cursors(make_store: StoreFactory) -> None:
    clock = Clock()
    store = await make_store(clock=clock)
    await store.create(record("thr_old", clock))
    clock.t += 1
    await store.create(record("thr_new", clock))
    clock.t += 1
    await store.append_history("thr_old", [user("touch")])  # updates the old thread
    by_update = await store.list_threads(ThreadQuery(sort_key="updated_at", limit=1))
    assert [r.id for r in by_update.records] == ["thr_old"] and by_update.next_cursor
    with pytest.raises(InvalidCursorError, match="same sortKey"):
        await store.list_threads(ThreadQuery(cursor=by_update.next_cursor))
    with pytest.raises(InvalidCursorError, match="nextCursor"):
        await store.list_threads(ThreadQuery(cursor="not-a-cursor"))
    rest = await store.list_threads(
        ThreadQuery(sort_key="updated_at", limit=1, cursor=by_update.next_cursor)
    )
    assert [r.id for r in rest.records] == ["thr_new"] and rest.next_cursor is None


# -- SQLite only: the file, several stores on it, leases, migrations ------------------------


async def test_the_file_survives_a_reopen_and_is_private(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "state" / "realtalk" / "threads.sqlite3"
    first = await SqliteThreadStore.open(path, clock=clock)
    await first.create(record("thr_a", clock, preview="kept"))
    await first.save_turn("thr_a", StoredTurn(turn=turn("t1", "kept", "yes"), created_ms=1))
    await first.aclose()
    await first.aclose()  # idempotent
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    second = await SqliteThreadStore.open(path, clock=clock)
    try:
        loaded = await second.claim("thr_a")  # the first store released it at close
        assert loaded.record.preview == "kept" and loaded.turns[0].turn == turn("t1", "kept", "yes")
    finally:
        await second.aclose()


async def test_two_app_servers_on_one_file_share_threads_but_not_claims(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "threads.sqlite3"
    a = await SqliteThreadStore.open(path, clock=clock)
    b = await SqliteThreadStore.open(path, clock=clock)
    try:
        await a.create(record("thr_a", clock, preview="from a"))
        assert [r.id for r in (await b.list_threads(ThreadQuery())).records] == ["thr_a"]
        with pytest.raises(ThreadBusyError) as busy:
            await b.claim("thr_a")
        assert a.node_id in str(busy.value) and "retry in 30 s" in str(busy.value)
        with pytest.raises(ThreadBusyError):
            await b.set_archived("thr_a", archived=True)
        # A's lease runs out (A died or hung): B takes the thread over ...
        clock.t += 31
        await b.claim("thr_a")
        # ... and A, which lost it, can no longer write (fencing).
        with pytest.raises(ThreadBusyError, match="no longer holds"):
            await a.save_turn("thr_a", StoredTurn(turn=turn("t1", "late"), created_ms=1))
        await b.save_turn("thr_a", StoredTurn(turn=turn("t2", "mine"), created_ms=2))
        assert [t.turn.id for t in (await a.load("thr_a")).turns] == ["t2"]
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_locked_file_fails_after_the_busy_timeout(tmp_path: Path) -> None:
    import sqlite3

    clock = Clock()
    path = tmp_path / "threads.sqlite3"
    store = await SqliteThreadStore.open(path, clock=clock, busy_timeout_s=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with pytest.raises(StoreError, match="stayed locked for 0.2 s"):
            await store.create(record("thr_a", clock))
        assert (await store.list_threads(ThreadQuery())).records == []  # WAL: reads go on
        other.execute("ROLLBACK")
        await store.create(record("thr_a", clock))
    finally:
        other.close()
        await store.aclose()


async def test_migrations_run_once_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from realtalk.app_server._store_sql import MIGRATIONS

    clock = Clock()
    path = tmp_path / "threads.sqlite3"
    v1 = await SqliteThreadStore.open(path, clock=clock)
    await v1.create(record("thr_a", clock, preview="before"))
    await v1.aclose()
    later = (*MIGRATIONS, "ALTER TABLE threads ADD COLUMN title TEXT")
    for _ in range(2):  # the second open finds version 2 and changes nothing
        v2 = await SqliteThreadStore.open(path, clock=clock, migrations=later)
        assert [r.preview for r in (await v2.list_threads(ThreadQuery())).records] == ["before"]
        await v2.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "title" in [c[1] for c in conn.execute("PRAGMA table_info(threads)")]
    with pytest.raises(StoreError, match="schema version 2, newer than this realtalk knows"):
        await SqliteThreadStore.open(path, clock=clock)


async def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "threads.sqlite3"
    path.write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(StoreError, match="unreadable"):
        await SqliteThreadStore.open(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


async def test_a_load_without_history_skips_it(make_store: StoreFactory) -> None:
    clock = Clock()
    store = await make_store(clock=clock)
    await store.create(record("thr_a", clock))
    await store.append_history("thr_a", [user("x")])
    assert (await store.load("thr_a", with_history=False)).history == []
    assert (await store.load("thr_a")).history == [user("x")]

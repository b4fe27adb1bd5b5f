"""The SQLite thread store's schema, migrations and statements (synchronous, no I/O policy).

Every function takes an open ``sqlite3.Connection`` (autocommit mode, rows as
``sqlite3.Row``); :mod:`._store_sqlite` runs them on its store thread and decides
ownership. Write helpers expect to run inside :func:`write_tx`.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from realtalk._errors import StoreError, ThreadNotFoundError
from realtalk.app_server._api import Turn
from realtalk.app_server._store import (
    Item,
    LoadedThread,
    StoredTurn,
    ThreadPage,
    ThreadQuery,
    ThreadRecord,
    TranscriptLine,
    decode_cursor,
    encode_cursor,
    history_cut,
    is_turn_start,
)

__all__ = [
    "MIGRATIONS",
    "insert_history",
    "insert_thread",
    "insert_transcript",
    "load_thread",
    "migrate",
    "select_page",
    "select_record",
    "update_record",
    "upsert_turn",
    "write_tx",
]

logger = logging.getLogger(__name__)

MIGRATIONS: Final[tuple[str, ...]] = (
    # v1: threads (with their lease), turns, agent history, realtime transcript.
    """
    CREATE TABLE threads (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        cwd TEXT NOT NULL,
        model TEXT NOT NULL,
        model_provider TEXT NOT NULL,
        instructions TEXT NOT NULL,
        preview TEXT NOT NULL DEFAULT '',
        settings TEXT NOT NULL DEFAULT '{}',
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        archived_ms INTEGER,
        owner TEXT,
        lease_expires_ms INTEGER,
        history_bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX threads_by_created ON threads (created_ms, seq);
    CREATE INDEX threads_by_updated ON threads (updated_ms, seq);
    CREATE TABLE turns (
        thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        turn_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (thread_id, ord),
        UNIQUE (thread_id, turn_id)
    ) WITHOUT ROWID;
    CREATE TABLE agent_items (
        thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        turn_start INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (thread_id, ord)
    ) WITHOUT ROWID;
    CREATE TABLE transcript (
        thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (thread_id, ord)
    ) WITHOUT ROWID;
    """,
)
"""``MIGRATIONS[n]`` takes a file from schema version ``n`` to ``n + 1`` (``user_version``)."""

_COLUMNS: Final = (
    "seq, id, cwd, model, model_provider, instructions, preview, settings,"
    " created_ms, updated_ms, archived_ms"
)


@contextlib.contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction; the write lock is taken up front, so it never deadlocks."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[str]) -> int:
    """Bring the file to version ``len(migrations)``; returns the version it had.

    Raises:
        StoreError: The file is from a newer realtalk (it is left untouched).
    """
    conn.execute("PRAGMA journal_mode=WAL")
    with write_tx(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(migrations):
            raise StoreError(
                f"the thread store {path} has schema version {version}, newer than this "
                f"realtalk knows ({len(migrations)}); upgrade realtalk or use another --state-dir"
            )
        for target in range(version, len(migrations)):
            for statement in migrations[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            logger.info("thread store migrated to schema %d", target + 1, extra={"path": str(path)})
        conn.execute(f"PRAGMA user_version = {len(migrations)}")
    return version


def _record(row: sqlite3.Row) -> ThreadRecord:
    values = dict(row)
    values.pop("seq")
    values["settings"] = msgspec.json.decode(values["settings"])
    return msgspec.convert(values, ThreadRecord)


def _record_values(record: ThreadRecord) -> dict[str, Any]:
    values = msgspec.structs.asdict(record)
    values["settings"] = msgspec.json.encode(record.settings).decode()
    return values


def select_record(conn: sqlite3.Connection, thread_id: str) -> ThreadRecord:
    """Raises ThreadNotFoundError."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM threads WHERE id = ?",  # constant columns
        (thread_id,),
    ).fetchone()
    if row is None:
        raise ThreadNotFoundError(f"thread not found: {thread_id}")
    return _record(row)


def insert_thread(conn: sqlite3.Connection, record: ThreadRecord, owner: str, lease: int) -> None:
    conn.execute(
        "INSERT INTO threads (id, cwd, model, model_provider, instructions, preview, settings,"
        " created_ms, updated_ms, owner, lease_expires_ms) VALUES (:id, :cwd, :model,"
        " :model_provider, :instructions, :preview, :settings, :created_ms, :updated_ms,"
        " :owner, :lease)",
        {**_record_values(record), "owner": owner, "lease": lease},
    )


def update_record(conn: sqlite3.Connection, record: ThreadRecord) -> None:
    """Metadata only: times, the archived flag and the lease are the store's."""
    conn.execute(
        "UPDATE threads SET cwd = :cwd, model = :model, model_provider = :model_provider,"
        " instructions = :instructions, preview = :preview, settings = :settings WHERE id = :id",
        _record_values(record),
    )


def _trim(conn: sqlite3.Connection, table: str, thread_id: str, keep: int) -> None:
    conn.execute(
        f"DELETE FROM {table} WHERE thread_id = ? AND ord <= "  # constant names
        f"(SELECT MAX(ord) FROM {table} WHERE thread_id = ?) - ?",
        (thread_id, thread_id, keep),
    )


def _next_ord(conn: sqlite3.Connection, table: str, thread_id: str) -> int:
    row = conn.execute(
        f"SELECT COALESCE(MAX(ord), 0) + 1 FROM {table} WHERE thread_id = ?",
        (thread_id,),
    ).fetchone()
    return int(row[0])


def upsert_turn(conn: sqlite3.Connection, thread_id: str, turn: StoredTurn, keep: int) -> None:
    """Insert the turn, or replace the stored one with its id (keeping its place)."""
    conn.execute(
        "INSERT INTO turns (thread_id, ord, turn_id, created_ms, status, body)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id, turn_id)"
        " DO UPDATE SET status = excluded.status, body = excluded.body",
        (
            thread_id,
            _next_ord(conn, "turns", thread_id),
            turn.turn.id,
            turn.created_ms,
            turn.turn.status,
            msgspec.json.encode(turn.turn).decode(),
        ),
    )
    _trim(conn, "turns", thread_id, keep)


def insert_history(
    conn: sqlite3.Connection, thread_id: str, items: Sequence[Item], budget: int
) -> None:
    """Append agent history items, then cut the oldest turns beyond ``budget`` bytes."""
    bodies = [msgspec.json.encode(item) for item in items]
    start = _next_ord(conn, "agent_items", thread_id)
    conn.executemany(
        "INSERT INTO agent_items (thread_id, ord, turn_start, bytes, body) VALUES (?, ?, ?, ?, ?)",
        [
            (thread_id, start + n, int(is_turn_start(item)), len(body), body.decode())
            for n, (item, body) in enumerate(zip(items, bodies, strict=True))
        ],
    )
    total = conn.execute(
        "UPDATE threads SET history_bytes = history_bytes + ? WHERE id = ? RETURNING history_bytes",
        (sum(len(b) for b in bodies), thread_id),
    ).fetchone()[0]
    if total <= budget:
        return
    kept = conn.execute(
        "SELECT ord, bytes, turn_start FROM agent_items WHERE thread_id = ? ORDER BY ord",
        (thread_id,),
    ).fetchall()
    cut = history_cut([r["bytes"] for r in kept], [bool(r["turn_start"]) for r in kept], budget)
    if cut:
        conn.execute(
            "DELETE FROM agent_items WHERE thread_id = ? AND ord < ?", (thread_id, kept[cut]["ord"])
        )
        conn.execute(
            "UPDATE threads SET history_bytes = ? WHERE id = ?",
            (sum(r["bytes"] for r in kept[cut:]), thread_id),
        )


def insert_transcript(
    conn: sqlite3.Connection, thread_id: str, lines: Sequence[TranscriptLine], keep: int
) -> None:
    start = _next_ord(conn, "transcript", thread_id)
    conn.executemany(
        "INSERT INTO transcript (thread_id, ord, role, text, at_ms) VALUES (?, ?, ?, ?, ?)",
        [(thread_id, start + n, ln.role, ln.text, ln.at_ms) for n, ln in enumerate(lines)],
    )
    _trim(conn, "transcript", thread_id, keep)


def _turn(thread_id: str, row: sqlite3.Row) -> StoredTurn | None:
    try:
        turn = msgspec.json.decode(row["body"], type=Turn)
    except msgspec.DecodeError as exc:  # e.g. an item type of a newer realtalk
        logger.warning("skipping a stored turn of thread %s: %s", thread_id, exc)
        return None
    return StoredTurn(turn=turn, created_ms=row["created_ms"])


def load_thread(
    conn: sqlite3.Connection,
    thread_id: str,
    last_turns: int | None,
    last_lines: int | None,
    *,
    with_history: bool,
) -> LoadedThread:
    """Raises ThreadNotFoundError. Call inside a transaction for one consistent snapshot."""
    record = select_record(conn, thread_id)
    turn_rows = conn.execute(
        "SELECT created_ms, body FROM turns WHERE thread_id = ? ORDER BY ord DESC LIMIT ?",
        (thread_id, -1 if last_turns is None else last_turns),
    ).fetchall()
    line_rows = conn.execute(
        "SELECT role, text, at_ms FROM transcript WHERE thread_id = ? ORDER BY ord DESC LIMIT ?",
        (thread_id, -1 if last_lines is None else last_lines),
    ).fetchall()
    history_rows = conn.execute(
        "SELECT body FROM agent_items WHERE thread_id = ? AND ? ORDER BY ord",
        (thread_id, with_history),
    )
    return LoadedThread(
        record=record,
        turns=[t for r in reversed(turn_rows) if (t := _turn(thread_id, r)) is not None],
        history=[msgspec.json.decode(r["body"]) for r in history_rows],
        transcript=[
            TranscriptLine(role=r["role"], text=r["text"], at_ms=r["at_ms"])
            for r in reversed(line_rows)
        ],
    )


def select_page(conn: sqlite3.Connection, query: ThreadQuery) -> ThreadPage:
    """Raises InvalidCursorError."""
    column = "updated_ms" if query.sort_key == "updated_at" else "created_ms"
    where = ["archived_ms IS NOT NULL" if query.archived else "archived_ms IS NULL"]
    args: list[Any] = []
    if query.cursor is not None:
        where.append(f"({column}, seq) < (?, ?)")
        args += decode_cursor(query.cursor, query.sort_key)
    if query.cwd is not None:
        where.append("cwd = ?")
        args.append(query.cwd)
    if query.model_providers:
        where.append(f"model_provider IN ({', '.join('?' * len(query.model_providers))})")
        args += query.model_providers
    if query.search_term is not None:
        where.append("instr(preview, ?) > 0")
        args.append(query.search_term)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM threads WHERE {' AND '.join(where)}"  # constant names
        f" ORDER BY {column} DESC, seq DESC LIMIT ?",
        [*args, query.limit + 1],
    ).fetchall()
    page = rows[: query.limit]
    cursor = None
    if len(rows) > query.limit and page:
        cursor = encode_cursor(query.sort_key, page[-1][column], page[-1]["seq"])
    return ThreadPage(records=[_record(r) for r in page], next_cursor=cursor)

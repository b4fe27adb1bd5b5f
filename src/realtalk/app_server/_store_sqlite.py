"""The default thread store: one SQLite file (``$XDG_STATE_HOME/realtalk/threads.sqlite3``).

**Off the event loop.** The store owns one connection on one dedicated thread;
every call runs there, one at a time, and the event loop only awaits its result.
A call whose caller is cancelled still finishes on that thread, so a transaction
is never left half done.

**Several app-servers on one file.** The file is in WAL mode (readers never wait
for the writer), every write is one short ``BEGIN IMMEDIATE`` transaction, and a
writer that finds the file locked waits up to ``busy_timeout_s`` (5 s) before the
call fails with :class:`~realtalk.StoreError` ("stayed locked"). A loaded thread is
claimed with a lease that the owning store renews every ``lease_ttl_s / 3``
seconds: another app-server's ``thread/resume`` of it is refused, with the owner's
host and pid, until the lease ends (``lease_ttl_s`` = 30 s after the owner died or
hung), and every write first checks that the writer still owns the thread
(fencing), so a server that lost its lease cannot overwrite the new owner's turns.
The file must be on a local filesystem: SQLite's locking does not work over NFS.

**Durability.** ``synchronous=NORMAL`` in WAL mode: a committed write survives
the process crashing; a power loss may lose the last transactions, never corrupt
the file.

**Schema.** ``PRAGMA user_version`` is the schema version; ``MIGRATIONS`` (see
:mod:`._store_sql`) bring an older file up to date in one transaction when a store
opens it; a file from a newer realtalk is refused and left untouched.

The directory is created ``0700`` and the file ``0600``: threads hold conversations.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

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
    now_ms,
)
from realtalk.app_server._store_sql import (
    MIGRATIONS,
    insert_history,
    insert_thread,
    insert_transcript,
    load_thread,
    migrate,
    select_page,
    select_record,
    update_record,
    upsert_turn,
    write_tx,
)

__all__ = ["BUSY_TIMEOUT_S", "STORE_FILE_NAME", "SqliteThreadStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

STORE_FILE_NAME: Final = "threads.sqlite3"
BUSY_TIMEOUT_S: Final = 5.0


class SqliteThreadStore:
    """A :class:`~realtalk.app_server.ThreadStore` in one SQLite file; open with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        *,
        limits: StoreLimits | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.path = path
        self._limits = limits or StoreLimits()
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._node = f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:6]})"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="realtalk-thread-store")
        self._conn: sqlite3.Connection | None = None
        self._claimed: set[str] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        limits: StoreLimits | None = None,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        migrations: Sequence[str] = MIGRATIONS,
    ) -> SqliteThreadStore:
        """Open the store at ``path``, creating or migrating the file.

        Raises:
            StoreError: The directory or file cannot be used, stays locked, is not a
                database, or is from a newer realtalk.
        """
        store = cls(path, limits=limits, clock=clock, busy_timeout_s=busy_timeout_s)
        try:
            await store._run(lambda conn: migrate(conn, path, migrations))
        except BaseException:
            await store.aclose()
            raise
        store._heartbeat = asyncio.create_task(store._renew_leases(), name="realtalk-store-lease")
        return store

    @property
    def node_id(self) -> str:
        return self._node

    @property
    def limits(self) -> StoreLimits:
        return self._limits

    # -- the store thread ------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise StoreError(
                f"cannot create the thread store {self.path}: {exc.strerror or exc}; "
                "pass --state-dir with a writable directory"
            ) from exc
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            return fn(self._conn)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"the thread store {self.path} stayed locked for {self._busy_timeout_s:g} s "
                    "(another app-server is writing it); try again"
                ) from exc
            raise StoreError(f"thread store {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the thread store {self.path} is unreadable ({exc}); move it away "
                "or pass --state-dir"
            ) from exc

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("the thread store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    # -- ownership -----------------------------------------------------------------------

    def _lease_end(self) -> int:
        return now_ms(self._clock) + int(self._limits.lease_ttl_s * 1000)

    def _fence(self, conn: sqlite3.Connection, thread_id: str) -> None:
        """The thread exists and this store still holds it; renews the lease."""
        row = conn.execute("SELECT owner FROM threads WHERE id = ?", (thread_id,)).fetchone()
        if row is None:
            raise ThreadNotFoundError(f"thread not found: {thread_id}")
        if row["owner"] != self._node:
            raise ThreadBusyError(
                f"this app-server no longer holds thread {thread_id} "
                f"(now held by {row['owner'] or 'nobody'}); its changes are not stored"
            )
        conn.execute(
            "UPDATE threads SET updated_ms = ?, lease_expires_ms = ? WHERE id = ?",
            (now_ms(self._clock), self._lease_end(), thread_id),
        )

    def _refuse_held(self, conn: sqlite3.Connection, thread_id: str) -> sqlite3.Row:
        """The thread's row, unless a live lease of someone else (or this store) holds it."""
        row: sqlite3.Row | None = conn.execute(
            "SELECT archived_ms, owner, lease_expires_ms FROM threads WHERE id = ?", (thread_id,)
        ).fetchone()
        if row is None:
            raise ThreadNotFoundError(f"thread not found: {thread_id}")
        owner, expires = row["owner"], row["lease_expires_ms"]
        left_ms = (expires or 0) - now_ms(self._clock)
        if owner is None or left_ms <= 0:
            return row
        if owner == self._node:
            raise ThreadBusyError(
                f"thread {thread_id} is already open on another connection of this app-server"
            )
        raise ThreadBusyError(
            f"thread {thread_id} is open in another app-server ({owner}); close it there, "
            f"or retry in {left_ms / 1000:.0f} s if that app-server has died"
        )

    async def _renew_leases(self) -> None:
        def renew(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                conn.execute(
                    "UPDATE threads SET lease_expires_ms = ? WHERE owner = ?",
                    (self._lease_end(), self._node),
                )

        while True:
            await asyncio.sleep(self._limits.lease_ttl_s / 3)
            if self._claimed:
                try:
                    await self._run(renew)
                except StoreError as exc:
                    logger.warning("could not renew thread leases: %s", exc)

    # -- ThreadStore ---------------------------------------------------------------------

    async def create(self, record: ThreadRecord) -> None:
        def create(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                insert_thread(conn, record, self._node, self._lease_end())

        await self._run(create)
        self._claimed.add(record.id)

    async def claim(self, thread_id: str) -> LoadedThread:
        def claim(conn: sqlite3.Connection) -> LoadedThread:
            with write_tx(conn):
                row = self._refuse_held(conn, thread_id)
                if row["archived_ms"] is not None:
                    raise ThreadArchivedError(
                        f"thread {thread_id} is archived; send thread/unarchive first"
                    )
                conn.execute(
                    "UPDATE threads SET owner = ?, lease_expires_ms = ? WHERE id = ?",
                    (self._node, self._lease_end(), thread_id),
                )
                return load_thread(conn, thread_id, None, None, with_history=True)

        loaded = await self._run(claim)
        self._claimed.add(thread_id)
        return loaded

    async def release(self, thread_id: str) -> None:
        self._claimed.discard(thread_id)

        def release(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                conn.execute(
                    "UPDATE threads SET owner = NULL, lease_expires_ms = NULL"
                    " WHERE id = ? AND owner = ?",
                    (thread_id, self._node),
                )

        await self._run(release)

    async def update(self, record: ThreadRecord) -> None:
        def update(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                self._fence(conn, record.id)
                update_record(conn, record)

        await self._run(update)

    async def save_turn(self, thread_id: str, turn: StoredTurn) -> None:
        capped = StoredTurn(
            turn=cap_turn(turn.turn, self._limits.max_text_chars), created_ms=turn.created_ms
        )

        def save(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                self._fence(conn, thread_id)
                upsert_turn(conn, thread_id, capped, self._limits.max_turns)

        await self._run(save)

    async def append_history(self, thread_id: str, items: Sequence[Item]) -> None:
        if not items:
            return

        def append(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                self._fence(conn, thread_id)
                insert_history(conn, thread_id, items, self._limits.max_history_bytes)

        await self._run(append)

    async def append_transcript(self, thread_id: str, lines: Sequence[TranscriptLine]) -> None:
        limit = self._limits.max_text_chars
        capped = [
            TranscriptLine(role=ln.role, text=cap_text(ln.text, limit), at_ms=ln.at_ms)
            for ln in lines
        ]
        if not capped:
            return

        def append(conn: sqlite3.Connection) -> None:
            with write_tx(conn):
                self._fence(conn, thread_id)
                insert_transcript(conn, thread_id, capped, self._limits.max_transcript_lines)

        await self._run(append)

    async def load(
        self,
        thread_id: str,
        *,
        last_turns: int | None = None,
        last_lines: int | None = None,
        with_history: bool = True,
    ) -> LoadedThread:
        def load(conn: sqlite3.Connection) -> LoadedThread:
            conn.execute("BEGIN")  # one snapshot of every table
            try:
                return load_thread(
                    conn, thread_id, last_turns, last_lines, with_history=with_history
                )
            finally:
                conn.execute("COMMIT")

        return await self._run(load)

    async def list_threads(self, query: ThreadQuery) -> ThreadPage:
        return await self._run(lambda conn: select_page(conn, query))

    async def set_archived(self, thread_id: str, *, archived: bool) -> ThreadRecord:
        def archive(conn: sqlite3.Connection) -> ThreadRecord:
            with write_tx(conn):
                row = conn.execute(
                    "SELECT owner FROM threads WHERE id = ?", (thread_id,)
                ).fetchone()
                if row is not None and row["owner"] != self._node:
                    self._refuse_held(conn, thread_id)
                record = select_record(conn, thread_id)
                if (record.archived_ms is not None) != archived:
                    conn.execute(
                        "UPDATE threads SET archived_ms = ? WHERE id = ?",
                        (now_ms(self._clock) if archived else None, thread_id),
                    )
                return select_record(conn, thread_id)

        return await self._run(archive)

    async def aclose(self) -> None:
        """Release this store's claims and close the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._claimed.clear()
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

        def close() -> None:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                with write_tx(conn):
                    conn.execute(
                        "UPDATE threads SET owner = NULL, lease_expires_ms = NULL WHERE owner = ?",
                        (self._node,),
                    )
            except sqlite3.Error as exc:  # the leases then simply run out
                logger.warning("could not release thread leases at close: %s", exc)
            finally:
                conn.close()

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, close)
        finally:
            self._executor.shutdown(wait=False)

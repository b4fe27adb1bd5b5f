"""Threads that persist: opening, resuming, listing and archiving stored threads.

:class:`ThreadRegistry` is app-server wide: its :class:`ThreadStore` and the threads
loaded on any of its connections. :class:`ThreadLifecycle` serves one connection:

* ``thread/start`` stores a new thread (unless ``ephemeral``: then it lives in
  memory only and is never listed).
* ``thread/resume {threadId, ...overrides}`` claims a stored thread, loads it (its
  workspace, model, instructions, sandbox and approval settings unless overridden,
  its agent history, its turns) and answers like ``thread/start`` with
  ``thread.turns`` filled; no notification follows (reference). Turns that were in
  progress when their app-server stopped come back ``interrupted``. Resuming a
  thread already loaded on this connection answers the same way and changes
  nothing; one loaded elsewhere is refused (``-32600``, naming where).
* ``thread/list`` pages through stored threads, newest first, archived ones only
  when asked; each has ``status`` ``notLoaded``, ``idle`` or ``active`` as this
  app-server sees it.
* ``thread/archive`` closes the thread if this connection has it loaded, marks it
  archived and sends ``thread/archived``; ``thread/unarchive`` undoes it, answers
  ``{thread}`` and sends ``thread/unarchived``.

A store that fails (locked for too long, unreadable) fails the request with
``-32603`` and its message; a thread that is unknown, busy or archived is ``-32600``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from realtalk._config import Settings
from realtalk._errors import ConfigError, StoreError
from realtalk.app_server._api import (
    EmptyResult,
    Thread,
    ThreadArchivedNotification,
    ThreadArchiveParams,
    ThreadListParams,
    ThreadListResult,
    ThreadResumeParams,
    ThreadResumeResult,
    ThreadStartParams,
    ThreadStatus,
    ThreadStatusNotLoaded,
    ThreadUnarchivedNotification,
    ThreadUnarchiveParams,
    ThreadUnarchiveResult,
    Turn,
)
from realtalk.app_server._connection import Connection, RequestError, invalid_request
from realtalk.app_server._methods import NotificationMethod
from realtalk.app_server._recorder import ThreadRecorder
from realtalk.app_server._store import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ThreadQuery,
    ThreadRecord,
    ThreadStore,
    now_ms,
)
from realtalk.app_server._store_memory import MemoryThreadStore
from realtalk.app_server._thread_settings import (
    APPROVAL_WIRE,
    SANDBOX_WIRE,
    resolve_cwd,
    thread_safety,
)
from realtalk.app_server._threads import (
    DEFAULT_AGENT_INSTRUCTIONS,
    AgentFactory,
    ThreadConfig,
    ThreadHandle,
)
from realtalk.protocol import INTERNAL_ERROR, INVALID_PARAMS, RequestId

__all__ = [
    "ThreadLifecycle",
    "ThreadRegistry",
    "instructions_of",
    "store_errors",
    "thread_settings",
]

logger = logging.getLogger(__name__)


class ThreadRegistry:
    """The app-server's thread store and the threads loaded on any of its connections."""

    def __init__(self, store: ThreadStore) -> None:
        self.store = store
        self.loaded: dict[str, ThreadHandle] = {}

    def status(self, thread_id: str) -> ThreadStatus:
        handle = self.loaded.get(thread_id)
        return handle.status if handle is not None else ThreadStatusNotLoaded()


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """A failing store is ``-32603``; unknown, busy or archived threads stay ``-32600``."""
    try:
        yield
    except StoreError as exc:
        if type(exc) is StoreError:
            raise RequestError(INTERNAL_ERROR, str(exc)) from exc
        raise


_SAFETY_KEYS = ("sandbox", "approvalPolicy")


def thread_settings(params: ThreadStartParams | ThreadResumeParams) -> dict[str, Any]:
    """What a record keeps of the params beyond its columns (for the next resume)."""
    return {
        k: v
        for k, v in (("sandbox", params.sandbox), ("approvalPolicy", params.approval_policy))
        if v is not None
    }


def instructions_of(base: str | None, developer: str | None) -> str:
    instructions = base or DEFAULT_AGENT_INSTRUCTIONS
    return f"{instructions}\n\n{developer}" if developer else instructions


def _interrupted(turn: Turn) -> Turn:
    if turn.status != "inProgress":
        return turn
    return msgspec.structs.replace(turn, status="interrupted")


@dataclass(kw_only=True)
class ThreadLifecycle:
    """The stored-thread requests of one connection (see the module docs)."""

    conn: Connection
    settings: Settings
    registry: ThreadRegistry
    threads: dict[str, ThreadHandle]
    """This connection's threads (shared with its dispatcher)."""
    default_cwd: Path | None
    model_provider: str
    agent_factory: AgentFactory

    # -- opening and closing -------------------------------------------------------------

    async def open_new(
        self, config: ThreadConfig, *, ephemeral: bool, settings: dict[str, Any]
    ) -> ThreadHandle:
        """Store a new thread (an ephemeral one in a memory store of its own) and load it."""
        stamp = now_ms(time.time)
        record = ThreadRecord(
            id=config.thread_id,
            cwd=str(config.cwd),
            model=config.model,
            model_provider=self.model_provider,
            instructions=config.instructions,
            created_ms=stamp,
            updated_ms=stamp,
            settings=settings,
        )
        store = MemoryThreadStore() if ephemeral else self.registry.store
        recorder = ThreadRecorder(store, record)
        try:
            handle = self._new_handle(config, recorder, ephemeral=ephemeral)
        except BaseException:
            await recorder.aclose()
            raise
        try:
            with store_errors():
                await store.create(record)
        except BaseException:
            await handle.aclose()
            raise
        return self._register(handle)

    def _new_handle(
        self, config: ThreadConfig, recorder: ThreadRecorder, *, ephemeral: bool
    ) -> ThreadHandle:
        return ThreadHandle(
            self.settings,
            config,
            self.conn.notify,
            emit_now=self.conn.notify_now,
            recorder=recorder,
            agent_factory=self.agent_factory,
            call=self.conn.call,
            ephemeral=ephemeral,
        )

    def _register(self, handle: ThreadHandle) -> ThreadHandle:
        self.threads[handle.id] = handle
        self.registry.loaded[handle.id] = handle
        return handle

    async def close(self, handle: ThreadHandle) -> None:
        """End the thread's conversation and agent, store what is pending, release it."""
        self.threads.pop(handle.id, None)
        if self.registry.loaded.get(handle.id) is handle:
            del self.registry.loaded[handle.id]
        await handle.aclose()

    def check_room(self, closing: bool) -> None:  # noqa: FBT001 (one obvious flag)
        if closing:
            raise invalid_request("the connection is closing; reconnect to open a thread")
        if len(self.threads) >= self.conn.limits.max_threads:
            raise invalid_request(
                f"this connection already has {len(self.threads)} threads (the limit): "
                "close one, open another connection, or start the app-server with a "
                "higher --max-threads"
            )

    # -- thread/resume ---------------------------------------------------------------------

    async def resume(self, rid: RequestId, params: ThreadResumeParams, *, closing: bool) -> None:
        handle = self.threads.get(params.thread_id)
        if handle is None:
            self.check_room(closing)
            handle = await self._claim(params)
            await handle.bridge.warm()  # as at thread/start: the first handoff skips the handshake
        with store_errors():
            loaded = await handle.recorder.store.load(handle.id, with_history=False)
        turns = [_interrupted(t.turn) for t in loaded.turns]
        safety = handle.config.safety
        await self.conn.respond(
            rid,
            ThreadResumeResult(
                thread=handle.describe(self.model_provider, turns),
                model=handle.config.model,
                model_provider=self.model_provider,
                cwd=str(handle.config.cwd),
                approval_policy=APPROVAL_WIRE[safety.approval],
                sandbox=SANDBOX_WIRE[safety.sandbox.mode],
            ),
        )

    async def _claim(self, params: ThreadResumeParams) -> ThreadHandle:
        store = self.registry.store
        with store_errors():
            loaded = await store.claim(params.thread_id)
        recorder: ThreadRecorder | None = None
        try:
            record = loaded.record
            cwd = resolve_cwd(params.cwd or record.cwd, self.default_cwd)
            settings = {k: v for k, v in record.settings.items() if k in _SAFETY_KEYS}
            settings.update(thread_settings(params))
            try:
                wanted = msgspec.convert(settings, ThreadStartParams)
            except msgspec.ValidationError as exc:
                raise RequestError(
                    INTERNAL_ERROR, f"thread {record.id} has unusable stored settings ({exc})"
                ) from exc
            safety = thread_safety(self.settings, wanted)
            try:
                safety.sandbox.resolve(cwd)
            except ConfigError as exc:
                raise invalid_request(str(exc)) from exc
            instructions = record.instructions
            if params.base_instructions or params.developer_instructions:
                instructions = instructions_of(
                    params.base_instructions, params.developer_instructions
                )
            resumed = msgspec.structs.replace(
                record,
                cwd=str(cwd),
                model=params.model or record.model,
                instructions=instructions,
                settings={**record.settings, **settings},
            )
            if resumed != record:
                with store_errors():
                    await store.update(resumed)
            config = ThreadConfig(
                thread_id=record.id,
                cwd=cwd,
                model=resumed.model,
                instructions=instructions,
                safety=safety,
                history=loaded.history,
            )
            recorder = ThreadRecorder(store, resumed, turns=loaded.turns, history=loaded.history)
            handle = self._new_handle(config, recorder, ephemeral=False)
        except BaseException:
            if recorder is not None:
                await recorder.aclose()  # releases the thread too
            else:
                with contextlib.suppress(StoreError):
                    await store.release(params.thread_id)
            raise
        logger.info(
            "thread resumed",
            extra={
                "thread_id": record.id,
                "turns": len(loaded.turns),
                "items": len(loaded.history),
            },
        )
        return self._register(handle)

    # -- thread/list -------------------------------------------------------------------------

    async def list(self, rid: RequestId, params: ThreadListParams) -> None:
        limit = DEFAULT_PAGE_SIZE if params.limit is None else params.limit
        if limit < 1:
            raise RequestError(
                INVALID_PARAMS, "Invalid params: `limit` must be at least 1", {"field": "limit"}
            )
        cwd = None
        if params.cwd is not None:
            base = self.default_cwd or Path.cwd()
            cwd = str(Path(params.cwd) if Path(params.cwd).is_absolute() else base / params.cwd)
        query = ThreadQuery(
            cursor=params.cursor,
            limit=min(limit, MAX_PAGE_SIZE),
            sort_key=params.sort_key or "created_at",
            archived=bool(params.archived),
            cwd=cwd,
            model_providers=tuple(params.model_providers or ()),
            search_term=params.search_term,
        )
        with store_errors():
            page = await self.registry.store.list_threads(query)
        data = [self.describe(record) for record in page.records]
        await self.conn.respond(rid, ThreadListResult(data=data, next_cursor=page.next_cursor))

    def describe(self, record: ThreadRecord) -> Thread:
        handle = self.registry.loaded.get(record.id)
        if handle is not None:
            return handle.describe(self.model_provider)
        return Thread(
            id=record.id,
            preview=record.preview,
            created_at=record.created_ms // 1000,
            updated_at=record.updated_ms // 1000,
            cwd=record.cwd,
            model_provider=record.model_provider,
            status=ThreadStatusNotLoaded(),
        )

    # -- thread/archive, thread/unarchive ------------------------------------------------------

    async def archive(self, rid: RequestId, params: ThreadArchiveParams) -> None:
        thread_id = params.thread_id
        handle = self.threads.get(thread_id)
        if handle is not None and handle.ephemeral:
            raise invalid_request(f"thread {thread_id} is ephemeral: it is not stored to archive")
        if handle is None and thread_id in self.registry.loaded:
            raise invalid_request(
                f"thread {thread_id} is open on another connection of this app-server; "
                "archive it there"
            )
        if handle is not None:
            await self.close(handle)
        with store_errors():
            await self.registry.store.set_archived(thread_id, archived=True)
        await self.conn.respond(rid, EmptyResult())
        await self.conn.notify(
            NotificationMethod.THREAD_ARCHIVED, ThreadArchivedNotification(thread_id=thread_id)
        )

    async def unarchive(self, rid: RequestId, params: ThreadUnarchiveParams) -> None:
        with store_errors():
            record = await self.registry.store.set_archived(params.thread_id, archived=False)
        await self.conn.respond(rid, ThreadUnarchiveResult(thread=self.describe(record)))
        await self.conn.notify(
            NotificationMethod.THREAD_UNARCHIVED,
            ThreadUnarchivedNotification(thread_id=params.thread_id),
        )

"""Stores what a loaded thread does, as it happens.

:class:`ThreadRecorder` sits between a thread and its client's notifications: what
the client sees is what is stored. ``turn/started``, the turn's ``userMessage``
item and ``turn/completed`` store the turn; ``turn/completed`` also stores what the
agent added to its Responses history since the last turn; finished realtime
transcript lines (and typed ``appendText`` lines) are stored as they come.

**Ordering and back-pressure.** Writes run one at a time, in order, on the
recorder's own writer task (the store itself works off the event loop). Up to
:data:`WRITE_QUEUE_SIZE` writes wait; when the queue is full a turn write waits for
room (it slows only this thread's turn notifications) and a transcript line is
dropped with a warning (audio never waits for the disk). ``turn/completed`` reaches
the client only after its turn and the agent history are stored, so a turn the
client saw complete survives a crash.

**Failures.** A write that fails is logged and dropped: the conversation goes on
without it. A recorder whose thread was taken over by another app-server (its claim
ran out) stops writing.

**Startup context.** :meth:`ThreadRecorder.context_turns` gives the conversation
manager the thread's recent turns and transcript, merged in time order, for the
``## Current Thread`` section of a realtime start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Literal, Protocol, runtime_checkable

import msgspec

from realtalk._errors import StoreError, ThreadBusyError
from realtalk.app_server._agent_bridge import Emit
from realtalk.app_server._api import (
    AgentMessageItem,
    ItemCompletedNotification,
    Thread,
    ThreadStatus,
    Turn,
    TurnCompletedNotification,
    TurnStartedNotification,
    UserMessageItem,
)
from realtalk.app_server._methods import NotificationMethod
from realtalk.app_server._store import (
    Item,
    StoredTurn,
    ThreadRecord,
    ThreadStore,
    TranscriptLine,
    now_ms,
)
from realtalk.conversation import ThreadTurn

__all__ = [
    "CONTEXT_LINES",
    "CONTEXT_TURNS",
    "PREVIEW_CHARS",
    "WRITE_QUEUE_SIZE",
    "ThreadRecorder",
    "context_turns",
]

logger = logging.getLogger(__name__)

WRITE_QUEUE_SIZE: Final = 256
PREVIEW_CHARS: Final = 200
CONTEXT_TURNS: Final = 12
"""Stored agent turns read for the startup context."""
CONTEXT_LINES: Final = 80
"""Stored transcript lines read for the startup context."""
CLOSE_TIMEOUT_S: Final = 10.0

Write = Callable[[], Awaitable[None]]
Role = Literal["user", "assistant"]


@runtime_checkable
class _HasHistory(Protocol):
    @property
    def history(self) -> list[Item]: ...


def context_turns(turns: Sequence[StoredTurn], lines: Sequence[TranscriptLine]) -> list[ThreadTurn]:
    """Agent turns and transcript lines as one list of turns, oldest first.

    An agent turn is its own turn (the task, the agent's messages, how it ended);
    transcript lines are grouped so that a user line after an assistant line
    starts a new turn.
    """
    events: list[tuple[int, int, StoredTurn | TranscriptLine]] = [
        (t.created_ms, 0, t) for t in turns
    ]
    events += [(ln.at_ms, 1, ln) for ln in lines]
    events.sort(key=lambda e: (e[0], e[1]))
    result: list[ThreadTurn] = []
    group: list[tuple[str, str]] = []
    for _, _, event in events:
        if isinstance(event, TranscriptLine):
            if event.role == "user" and any(s == "Assistant" for s, _ in group):
                result.append(ThreadTurn(tuple(group)))
                group = []
            group.append(("User" if event.role == "user" else "Assistant", event.text))
            continue
        if group:
            result.append(ThreadTurn(tuple(group)))
            group = []
        result.append(ThreadTurn(_agent_lines(event.turn)))
    if group:
        result.append(ThreadTurn(tuple(group)))
    return result


def _agent_lines(turn: Turn) -> tuple[tuple[str, str], ...]:
    lines: list[tuple[str, str]] = []
    for item in turn.items:
        if isinstance(item, UserMessageItem):
            lines.append(("Task for the background agent", " ".join(c.text for c in item.content)))
        elif isinstance(item, AgentMessageItem) and item.text:
            lines.append(("Background agent", item.text))
    if turn.status != "completed":
        reason = f": {turn.error.message}" if turn.error is not None else ""
        lines.append(("Background agent", f"(the task ended {turn.status}{reason})"))
    return tuple(lines)


class ThreadRecorder:
    """Persistence of one loaded thread (see the module docs)."""

    def __init__(
        self,
        store: ThreadStore,
        record: ThreadRecord,
        *,
        turns: Sequence[StoredTurn] = (),
        history: Sequence[Item] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.record = record
        self.history = list(history)
        """The agent history the thread was loaded with."""
        self._clock = clock
        self._created: dict[str, int] = {}
        self._items: dict[str, list[UserMessageItem]] = {}
        self._agent: object | None = None
        self._saved = 0
        self._agent_source: Callable[[], object] | None = None
        self._queue: asyncio.Queue[Write] = asyncio.Queue(WRITE_QUEUE_SIZE)
        self._writer = asyncio.create_task(self._write_all(), name=f"realtalk-store-{record.id}")
        self._stopped = False
        self._closed = False
        for stored in turns:  # turns cut short by an app-server that stopped
            if stored.turn.status == "inProgress":
                ended = msgspec.structs.replace(stored.turn, status="interrupted")
                self._enqueue(self._save(StoredTurn(turn=ended, created_ms=stored.created_ms)))

    # -- the agent ---------------------------------------------------------------------

    def attach(self, agent_source: Callable[[], object]) -> None:
        """``agent_source()`` is the thread's current agent (read at each turn's end)."""
        self._agent_source = agent_source

    def track(self, agent: object, seeded: int) -> None:
        """``agent`` starts with ``seeded`` history items that are stored already."""
        self._agent, self._saved = agent, seeded

    def _history_delta(self) -> list[Item]:
        agent = self._agent_source() if self._agent_source is not None else None
        if agent is None or agent is not self._agent or not isinstance(agent, _HasHistory):
            return []
        history = agent.history
        delta, self._saved = history[self._saved :], len(history)
        return delta

    # -- notifications in, writes out ------------------------------------------------------

    def wrap(self, emit: Emit) -> Emit:
        """``emit`` that stores what it sends (turn notifications) before or as it sends."""

        async def recorded(method: NotificationMethod, params: msgspec.Struct) -> None:
            await self._observe(method, params)
            await emit(method, params)

        return recorded

    async def _observe(self, method: NotificationMethod, params: msgspec.Struct) -> None:
        if self._stopped:
            return
        if isinstance(params, TurnStartedNotification):
            self._created[params.turn.id] = now_ms(self._clock)
            self._items[params.turn.id] = []
            await self._put(self._save_turn(params.turn))
        elif isinstance(params, ItemCompletedNotification) and isinstance(
            params.item, UserMessageItem
        ):
            items = self._items.get(params.turn_id)
            if items is not None and not items:  # the turn's own input: store the ask
                items.append(params.item)
                await self._put(
                    self._save_turn(Turn(id=params.turn_id, status="inProgress", items=[*items]))
                )
            self._set_preview(" ".join(c.text for c in params.item.content))
        elif isinstance(params, TurnCompletedNotification):
            self._items.pop(params.turn.id, None)
            await self._put(self._save_turn(params.turn))
            await self._put(self._append_history(self._history_delta()))
            await self.flush()
        del method

    def transcript(self, role: Role, text: str) -> None:
        """Store a finished realtime line (never waits; dropped when the queue is full)."""
        if self._stopped or not text.strip():
            return
        line = TranscriptLine(role=role, text=text, at_ms=now_ms(self._clock))
        if role == "user":
            self._set_preview(text)
        self._enqueue(self._append_line(line))

    def _set_preview(self, text: str) -> None:
        if self.record.preview or not text.strip():
            return
        preview = " ".join(text.split())[:PREVIEW_CHARS]
        self.record = msgspec.structs.replace(self.record, preview=preview)
        record = self.record
        self._enqueue(lambda: self.store.update(record))

    def _save_turn(self, turn: Turn) -> Write:
        created = self._created.get(turn.id, now_ms(self._clock))
        return self._save(StoredTurn(turn=turn, created_ms=created))

    def _save(self, turn: StoredTurn) -> Write:
        return lambda: self.store.save_turn(self.record.id, turn)

    def _append_history(self, items: list[Item]) -> Write:
        return lambda: self.store.append_history(self.record.id, items)

    def _append_line(self, line: TranscriptLine) -> Write:
        return lambda: self.store.append_transcript(self.record.id, [line])

    async def _put(self, write: Write) -> None:
        if not self._closed:
            await self._queue.put(write)

    def _enqueue(self, write: Write) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            logger.warning("thread store queue full; a write is dropped", extra=self._log)

    @property
    def _log(self) -> dict[str, str]:
        return {"thread_id": self.record.id}

    async def _write_all(self) -> None:
        while True:
            write = await self._queue.get()
            try:
                if not self._stopped:
                    await write()
            except ThreadBusyError as exc:
                self._stopped = True
                logger.error("thread is no longer stored: %s", exc, extra=self._log)
            except StoreError as exc:
                logger.error("storing the thread failed: %s", exc, extra=self._log)
            except Exception:  # a bug guard: the writer must outlive one bad write
                logger.exception("storing the thread failed", extra=self._log)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Return once every write queued so far is done (or dropped)."""
        if not self._writer.done():
            await self._queue.join()

    # -- reading -------------------------------------------------------------------------

    async def context_turns(self) -> list[ThreadTurn]:
        """The thread's recent turns for the startup context (after pending writes)."""
        await self.flush()
        loaded = await self.store.load(
            self.record.id, last_turns=CONTEXT_TURNS, last_lines=CONTEXT_LINES, with_history=False
        )
        return context_turns(loaded.turns, loaded.transcript)

    def describe(self, model_provider: str, status: ThreadStatus, turns: list[Turn]) -> Thread:
        record = self.record
        return Thread(
            id=record.id,
            preview=record.preview,
            created_at=record.created_ms // 1000,
            updated_at=max(record.updated_ms, *(self._created.values() or [0])) // 1000,
            cwd=record.cwd,
            model_provider=model_provider,
            status=status,
            turns=turns,
        )

    async def aclose(self) -> None:
        """Store what is queued (at most :data:`CLOSE_TIMEOUT_S`), release the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.flush()
        except TimeoutError:
            logger.warning("thread store writes did not finish at close", extra=self._log)
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        try:
            await self.store.release(self.record.id)
        except StoreError as exc:  # the claim then runs out by itself
            logger.warning("could not release the thread: %s", exc, extra=self._log)

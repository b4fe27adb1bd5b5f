"""The thread's background agent as turns: ``turn/*`` and ``item/*`` notifications.

A thread owns one agent (the built-in ``ResponsesAgent``). Both the client
(``turn/start``) and the thread's realtime conversation (handoffs) hand it work.
:class:`AgentBridge` sits in between:

* It *is* the conversation's :class:`~realtalk.agent.BackgroundAgent`: the
  conversation manager submits handoffs to it and reads its events.
* Every agent task is a turn. ``submit`` while the agent is idle starts a turn
  (``turn/started`` + a ``userMessage`` item); while busy it steers the running
  turn. Each assistant message becomes ``item/started`` ->
  ``item/agentMessage/delta`` -> ``item/completed``; the task's end becomes
  ``turn/completed`` (``completed``, or ``failed`` after an ``error``
  notification).
* The agent reports whole messages, so one delta carries a whole message.
* ``interrupt`` closes the agent (cancelling the task), reports the turn as
  ``interrupted`` and the conversation's handoff as failed, then replaces the agent
  with a fresh one from the factory. The agent's history does not survive an
  interrupt (the agent has no way to cancel a task and keep its thread).

Events reach the conversation only once it reads :meth:`events` (a conversation
that never started must not stall turns); that queue holds
:data:`FORWARD_QUEUE_SIZE` events and applies back-pressure when full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import msgspec

from realtalk._errors import AgentError
from realtalk.agent import AgentEvent, AssistantMessage, BackgroundAgent, TaskComplete, TaskFailed
from realtalk.app_server._api import (
    AgentMessageDeltaNotification,
    AgentMessageItem,
    ErrorNotification,
    ItemCompletedNotification,
    ItemStartedNotification,
    TextInput,
    ThreadItem,
    Turn,
    TurnCompletedNotification,
    TurnError,
    TurnStartedNotification,
    TurnStatus,
    UserMessageItem,
)

__all__ = ["FORWARD_QUEUE_SIZE", "AgentBridge", "Emit", "TurnConflictError"]

logger = logging.getLogger(__name__)

FORWARD_QUEUE_SIZE: Final = 64
INTERRUPTED_MESSAGE: Final = "the task was interrupted by the user"

Emit = Callable[[str, msgspec.Struct], Awaitable[None]]
"""Sends one notification (method, params) to the thread's client."""


class TurnConflictError(AgentError):
    """A turn request does not fit the thread's current turn."""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class _TurnState:
    def __init__(self, turn_id: str) -> None:
        self.id = turn_id
        self.items: list[ThreadItem] = []

    def snapshot(self, status: TurnStatus, error: str | None = None) -> Turn:
        return Turn(
            id=self.id,
            status=status,
            items=list(self.items),
            error=None if error is None else TurnError(message=error),
        )


class AgentBridge:
    """Turns and event fan-out over one thread's background agent."""

    def __init__(self, thread_id: str, factory: Callable[[], BackgroundAgent], emit: Emit) -> None:
        self._thread_id = thread_id
        self._factory = factory
        self._emit = emit
        self._agent = factory()
        self._turns: deque[_TurnState] = deque()
        self._lock = asyncio.Lock()
        self._forward: asyncio.Queue[AgentEvent | None] = asyncio.Queue(FORWARD_QUEUE_SIZE)
        self._attached = False
        self._closed = False
        self._pump = self._spawn_pump()

    # -- BackgroundAgent ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._agent.busy

    async def submit(self, text: str) -> None:
        """A handoff: start a turn when idle, else steer the running one."""
        async with self._lock:
            await self._submit(text)

    def events(self) -> AsyncIterator[AgentEvent]:
        self._attached = True
        return self._iter_forward()

    async def _iter_forward(self) -> AsyncIterator[AgentEvent]:
        while True:
            event = await self._forward.get()
            if event is None:
                return
            yield event

    async def aclose(self) -> None:
        """Cancel the running task and close the agent. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._stop_pump()
        await self._agent.aclose()
        self._turns.clear()
        with contextlib.suppress(asyncio.QueueFull):
            self._forward.put_nowait(None)

    # -- turns -------------------------------------------------------------------------

    @property
    def active_turn_id(self) -> str | None:
        return self._turns[-1].id if self._turns else None

    async def start_turn(self, text: str, respond: Callable[[Turn], Awaitable[None]]) -> Turn:
        """Start a client turn; ``respond`` runs before the turn is announced.

        Raises:
            TurnConflictError: A turn is already running.
            AgentError: The agent is closed.
        """
        async with self._lock:
            if self._turns:
                raise TurnConflictError(
                    f"thread {self._thread_id} already has a turn in progress "
                    f"({self._turns[-1].id}); use turn/steer or turn/interrupt"
                )
            self._check_open()
            turn_id = _new_id("turn")
            await respond(Turn(id=turn_id, status="inProgress"))
            await self._submit(text, turn_id=turn_id)
            return Turn(id=turn_id, status="inProgress")

    async def steer(self, text: str, expected_turn_id: str) -> str:
        """Add input to the running turn.

        Raises:
            TurnConflictError: No turn runs, or it is not ``expected_turn_id``.
        """
        async with self._lock:
            active = self.active_turn_id
            if active is None:
                raise TurnConflictError(f"thread {self._thread_id} has no turn in progress")
            if active != expected_turn_id:
                raise TurnConflictError(
                    f"expected turn {expected_turn_id} but turn {active} is in progress"
                )
            self._check_open()
            await self._agent.submit(text)
            return active

    async def interrupt(self, turn_id: str, respond: Callable[[], Awaitable[None]]) -> None:
        """Cancel the running turn ``turn_id``; ``respond`` runs before ``turn/completed``.

        Raises:
            TurnConflictError: ``turn_id`` is not the running turn.
        """
        async with self._lock:
            if self.active_turn_id != turn_id:
                raise TurnConflictError(
                    f"turn {turn_id} is not in progress on thread {self._thread_id}"
                )
            self._check_open()
            await self._stop_pump()
            await self._agent.aclose()
            await respond()
            while self._turns:
                turn = self._turns.popleft()
                await self._emit_turn_completed(turn.snapshot("interrupted"))
            await self._forward_event(TaskFailed(INTERRUPTED_MESSAGE))
            self._agent = self._factory()
            self._pump = self._spawn_pump()

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise AgentError(f"thread {self._thread_id} is closed")

    async def _submit(self, text: str, *, turn_id: str | None = None) -> None:
        # No await between the busy check and submit: the agent makes the same
        # start-or-steer decision on the same state.
        self._check_open()
        starts = not self._agent.busy
        await self._agent.submit(text)
        if not starts:
            return
        turn = _TurnState(turn_id or _new_id("turn"))
        self._turns.append(turn)
        await self._emit(
            "turn/started",
            TurnStartedNotification(thread_id=self._thread_id, turn=turn.snapshot("inProgress")),
        )
        item = UserMessageItem(id=_new_id("item"), content=[TextInput(text=text)])
        turn.items.append(item)
        await self._emit(
            "item/started",
            ItemStartedNotification(thread_id=self._thread_id, turn_id=turn.id, item=item),
        )
        await self._emit(
            "item/completed",
            ItemCompletedNotification(thread_id=self._thread_id, turn_id=turn.id, item=item),
        )

    def _spawn_pump(self) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run_pump(self._agent), name="realtalk-app-agent-pump")
        return task

    async def _stop_pump(self) -> None:
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)

    async def _run_pump(self, agent: BackgroundAgent) -> None:
        try:
            async for event in agent.events():
                await self._on_event(event)
        except Exception:  # the pump must not die silently: log, and leave turns to aclose
            logger.exception(
                "background agent event pump failed", extra={"thread_id": self._thread_id}
            )

    async def _on_event(self, event: AgentEvent) -> None:
        turn = self._turns[0] if self._turns else None
        if turn is None:
            logger.warning(
                "background agent event outside any turn", extra={"thread_id": self._thread_id}
            )
        elif isinstance(event, AssistantMessage):
            await self._emit_message(turn, event.text)
        elif isinstance(event, TaskComplete):
            self._turns.popleft()
            await self._emit_turn_completed(turn.snapshot("completed"))
        elif isinstance(event, TaskFailed):
            self._turns.popleft()
            await self._emit(
                "error",
                ErrorNotification(
                    thread_id=self._thread_id,
                    turn_id=turn.id,
                    error=TurnError(message=event.message),
                ),
            )
            await self._emit_turn_completed(turn.snapshot("failed", event.message))
        await self._forward_event(event)

    async def _emit_message(self, turn: _TurnState, text: str) -> None:
        item_id = _new_id("item")
        tid = self._thread_id
        await self._emit(
            "item/started",
            ItemStartedNotification(
                thread_id=tid, turn_id=turn.id, item=AgentMessageItem(id=item_id, text="")
            ),
        )
        await self._emit(
            "item/agentMessage/delta",
            AgentMessageDeltaNotification(
                thread_id=tid, turn_id=turn.id, item_id=item_id, delta=text
            ),
        )
        done = AgentMessageItem(id=item_id, text=text)
        turn.items.append(done)
        await self._emit(
            "item/completed", ItemCompletedNotification(thread_id=tid, turn_id=turn.id, item=done)
        )

    async def _emit_turn_completed(self, turn: Turn) -> None:
        await self._emit(
            "turn/completed", TurnCompletedNotification(thread_id=self._thread_id, turn=turn)
        )

    async def _forward_event(self, event: AgentEvent) -> None:
        if self._attached and not self._closed:
            await self._forward.put(event)

"""The thread's background agent as turns: ``turn/*`` and ``item/*`` notifications.

A thread owns one agent (the built-in ``ResponsesAgent``). Both the client
(``turn/start``) and the thread's realtime conversation (handoffs) hand it work.
:class:`AgentBridge` sits in between:

* It *is* the conversation's :class:`~realtalk.agent.BackgroundAgent`: the
  conversation manager submits handoffs to it and reads its events.
* Every agent task is a turn. ``submit`` while the agent is idle starts a turn;
  while busy it steers the running turn. What a turn shows (its items: the task,
  messages, commands with their output, patches) and how it ends is told by its
  :class:`~realtalk.app_server._turn_report.TurnReport` (``_turn_report.py``).
* ``interrupt_turn`` (``turn/interrupt``) answers the request, then asks an
  :class:`InterruptibleAgent` (the built-in one) to stop its task: the agent keeps
  its thread, so the next turn sees the earlier history; its ``TaskFailed`` becomes
  ``turn/completed`` with status ``interrupted`` and still reaches the conversation
  (which answers its handoff as cancelled). Any other agent, or one that does not
  stop within :data:`INTERRUPT_TIMEOUT_S`, is closed and replaced with a fresh one
  from the factory (its history is lost).
* ``interrupt`` makes the bridge itself an :class:`InterruptibleAgent`: the
  conversation's cancel (``thread/realtime/cancelHandoff``, or the model's
  ``cancel_background_agent``) stops the running turn the same way.

Events reach the conversation only once it reads :meth:`events` (a conversation
that never started must not stall turns); that queue holds
:data:`FORWARD_QUEUE_SIZE` events and applies back-pressure when full. Deltas
(message pieces, command output) are not forwarded: the conversation uses whole
messages and results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from realtalk._errors import AgentError
from realtalk.agent import (
    INTERRUPTED_MESSAGE,
    AgentEvent,
    AssistantDelta,
    AssistantMessage,
    BackgroundAgent,
    CommandFinished,
    CommandOutput,
    CommandStarted,
    InterruptibleAgent,
    PatchApplied,
    ResponsesAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.app_server._api import Turn
from realtalk.app_server._turn_report import Emit, TurnReport, new_id

__all__ = ["FORWARD_QUEUE_SIZE", "INTERRUPT_TIMEOUT_S", "AgentBridge", "Emit", "TurnConflictError"]

logger = logging.getLogger(__name__)

FORWARD_QUEUE_SIZE: Final = 64
INTERRUPT_TIMEOUT_S: Final = 15.0
"""Longest wait for an interrupted turn to end before the agent is replaced."""


class TurnConflictError(AgentError):
    """A turn request does not fit the thread's current turn."""


class AgentBridge:
    """Turns and event fan-out over one thread's background agent."""

    def __init__(self, thread_id: str, factory: Callable[[], BackgroundAgent], emit: Emit) -> None:
        self._thread_id = thread_id
        self._factory = factory
        self._emit = emit
        self._agent = factory()
        self._turns: deque[TurnReport] = deque()
        self._lock = asyncio.Lock()
        # Held while the pump turns one agent event into notifications, so that an
        # interrupt can answer before the turn it interrupts is reported complete.
        self._gate = asyncio.Lock()
        self._forward: asyncio.Queue[AgentEvent | None] = asyncio.Queue(FORWARD_QUEUE_SIZE)
        self._attached = False
        self._closed = False
        self._pump = self._spawn_pump()

    # -- BackgroundAgent ---------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._agent.busy

    @property
    def agent(self) -> BackgroundAgent:
        """The agent doing the thread's work now (a replaced one is closed)."""
        return self._agent

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
        for turn in self._turns:
            turn.ended.set()  # an interrupt waiting for its turn returns
        self._turns.clear()
        with contextlib.suppress(asyncio.QueueFull):
            self._forward.put_nowait(None)

    async def warm(self) -> None:
        """Pre-connect the agent's model socket now, so its first turn skips the handshake.

        Best effort and immediate: the handshake runs in the background and a failure
        only means the first turn connects itself. Agents without a model connection
        (a command) have nothing to warm.
        """
        if isinstance(self._agent, ResponsesAgent) and not self._closed:
            await self._agent.start()

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
            turn_id = new_id("turn")
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

    async def interrupt_turn(self, turn_id: str, respond: Callable[[], Awaitable[None]]) -> None:
        """Stop the running turn ``turn_id``; ``respond`` runs before ``turn/completed``.

        Returns once the turn is reported complete, so the next ``turn/start`` finds
        the thread idle.

        Raises:
            TurnConflictError: ``turn_id`` is not the running turn.
        """
        async with self._lock:
            async with self._gate:
                if self.active_turn_id != turn_id:
                    raise TurnConflictError(
                        f"turn {turn_id} is not in progress on thread {self._thread_id}"
                    )
                self._check_open()
                turn = self._turns[-1]
                await respond()
                turn.interrupted = True
            await self._stop_turn(turn)

    async def interrupt(self) -> bool:
        """Stop the running turn, if any (:class:`InterruptibleAgent`: the conversation's
        cancel); False when none runs. Returns once the turn is reported complete."""
        async with self._lock:
            async with self._gate:
                if self._closed or not self._turns:
                    return False
                turn = self._turns[-1]
                turn.interrupted = True
            await self._stop_turn(turn)
            return True

    async def _stop_turn(self, turn: TurnReport) -> None:
        agent = self._agent
        if isinstance(agent, InterruptibleAgent):
            await agent.interrupt()
            try:
                async with asyncio.timeout(INTERRUPT_TIMEOUT_S):
                    await turn.ended.wait()
                return
            except TimeoutError:
                logger.warning(
                    "interrupted turn did not end in time; replacing the agent",
                    extra={"thread_id": self._thread_id, "turn_id": turn.id},
                )
        if not self._closed:
            await self._replace_agent()

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
        turn = TurnReport(self._thread_id, turn_id or new_id("turn"), self._emit)
        self._turns.append(turn)
        await turn.start(text)

    async def _replace_agent(self) -> None:
        """Close the agent, end its turns as interrupted, and start a fresh agent."""
        await self._stop_pump()
        await self._agent.aclose()
        ended = bool(self._turns)
        while self._turns:
            await self._turns.popleft().end("interrupted")
        if ended:  # the conversation's handoff ends with the task
            await self._forward_event(TaskFailed(INTERRUPTED_MESSAGE))
        self._agent = self._factory()
        self._pump = self._spawn_pump()
        await self.warm()

    def _spawn_pump(self) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run_pump(self._agent), name="realtalk-app-agent-pump")
        return task

    async def _stop_pump(self) -> None:
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)

    async def _run_pump(self, agent: BackgroundAgent) -> None:
        try:
            async for event in agent.events():
                async with self._gate:
                    await self._on_event(event)
                if not isinstance(event, AssistantDelta | CommandOutput):
                    await self._forward_event(event)
        except Exception:  # the pump must not die silently: log, and leave turns to aclose
            logger.exception(
                "background agent event pump failed", extra={"thread_id": self._thread_id}
            )

    async def _on_event(self, event: AgentEvent) -> None:
        turn = self._turns[0] if self._turns else None
        if turn is None:
            if not isinstance(event, AssistantDelta | CommandOutput):
                logger.warning(
                    "background agent event outside any turn",
                    extra={"thread_id": self._thread_id},
                )
        elif isinstance(event, AssistantDelta):
            await turn.message_delta(event.text)
        elif isinstance(event, AssistantMessage):
            await turn.complete_message(event.text)
        elif isinstance(event, CommandOutput):
            await turn.output(event)
        elif isinstance(event, CommandStarted | CommandFinished | PatchApplied):
            await turn.tool(event)
        elif not isinstance(event, TaskComplete | TaskFailed):
            pass  # approval questions are asked by the thread's approver
        else:
            self._turns.popleft()
            if isinstance(event, TaskComplete):
                await turn.end("completed")
            elif turn.interrupted:
                await turn.end("interrupted")
            else:
                await turn.fail(event.message)

    async def _forward_event(self, event: AgentEvent) -> None:
        if self._attached and not self._closed:
            await self._forward.put(event)

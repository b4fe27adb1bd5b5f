"""The bridge between a manager's conversations and its background agent.

Two tasks, owned here and cancelled by :meth:`AgentLink.aclose`:

* ``submitter`` - hands delegation texts to the agent (queue of 64, back-pressure), so
  the fanout never waits for the agent however slow it is to accept;
* ``pump`` - reads the agent's events and hands each, in agent order, to the core of
  the conversation running at that moment (which decides what to send). While a new
  realtime session replaces a lost one, an event waits for the new core (``deliver``),
  so a task's result is never handed to a session that is gone.

Agent failures of any kind are spoken back (``AgentActivity("failed")`` and the
handoff's failure output), never swallowed and never fatal to the conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from realtalk.agent import AssistantMessage, BackgroundAgent, TaskComplete, TaskFailed
from realtalk.conversation._runtime import ConversationRuntime
from realtalk.conversation._types import AgentActivity, ConversationEvent

__all__ = ["SUBMISSION_QUEUE_SIZE", "AgentLink"]

logger = logging.getLogger("realtalk.conversation")

SUBMISSION_QUEUE_SIZE = 64

Emit = Callable[[ConversationEvent], Awaitable[None]]
Call = Callable[[ConversationRuntime], Awaitable[bool]]
Deliver = Callable[[Call], Awaitable[bool]]
"""Apply a call to the running conversation (its successor, if its session was lost);
False if no conversation is running."""


class AgentLink:
    """Delegations to ``agent`` and its output back to the running conversation."""

    def __init__(
        self, agent: BackgroundAgent | None, *, emit: Emit, deliver: Deliver, name: str
    ) -> None:
        self.agent = agent
        self._emit = emit
        self._deliver = deliver
        self._name = name
        self._submissions: asyncio.Queue[str] = asyncio.Queue(SUBMISSION_QUEUE_SIZE)
        self._pump_task: asyncio.Task[None] | None = None
        self._submit_task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Start the pump and the submitter (the pump again, if it ended).

        The pump ends only when the agent's event stream failed (reported then); it is
        restarted so later handoffs are not submitted to an agent nobody listens to.
        The submitter never ends on its own.
        """
        agent = self.agent
        if agent is None:
            return
        if self._pump_task is None or self._pump_task.done():
            if self._pump_task is not None:
                logger.warning("restarting the background agent event pump")
            self._pump_task = asyncio.ensure_future(self._pump(agent))
            self._pump_task.set_name(f"realtalk-agent-pump-{self._name}")
        if self._submit_task is None:
            self._submit_task = asyncio.ensure_future(self._submitter(agent))
            self._submit_task.set_name(f"realtalk-agent-submit-{self._name}")

    async def delegate(self, runtime: ConversationRuntime, text: str) -> None:
        """Hand ``text`` to the agent (start or steer) without waiting for it."""
        await self._emit(AgentActivity("submitted", text))
        if self.agent is None:
            logger.warning("handoff requested but no background agent is configured")
            await self._emit(AgentActivity("failed", "no background agent is configured"))
            await runtime.agent_failed("no background agent is configured")
            return
        await runtime.put_until_stopped(self._submissions, text)

    async def aclose(self) -> None:
        """Cancel and await both tasks (the agent itself belongs to the caller)."""
        tasks = [t for t in (self._pump_task, self._submit_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals -------------------------------------------------------------------

    async def _submitter(self, agent: BackgroundAgent) -> None:
        while True:
            text = await self._submissions.get()
            try:
                await agent.submit(text)
            except Exception as exc:  # any agent failure is spoken back, never fatal here
                logger.warning("background agent rejected the handoff: %s", exc)
                await self._failed(str(exc))

    async def _failed(self, message: str) -> None:
        await self._emit(AgentActivity("failed", message))
        await self._deliver(lambda runtime: runtime.agent_failed(message))

    async def _pump(self, agent: BackgroundAgent) -> None:
        try:
            await self._pump_events(agent)
        except Exception as exc:  # an agent bug must not leave a delegation hanging
            logger.exception("background agent event stream failed")
            await self._failed(f"the background agent stopped: {exc}")

    async def _pump_events(self, agent: BackgroundAgent) -> None:
        async for event in agent.events():
            if isinstance(event, AssistantMessage):
                await self._emit(AgentActivity("message", event.text))
                await self._message(event.text)
            elif isinstance(event, TaskComplete):
                await self._emit(AgentActivity("complete"))
                await self._deliver(lambda runtime: runtime.agent_complete())
            elif isinstance(event, TaskFailed):
                await self._failed(event.message)

    async def _message(self, text: str) -> None:
        await self._deliver(lambda runtime: runtime.agent_message(text))

"""The bridge between a manager's conversations and its background agent.

Two tasks, owned here and cancelled by :meth:`AgentLink.aclose`:

* ``submitter`` - hands the core's orders to the agent in order (queue of 64,
  back-pressure): a delegation text (start or steer a task), or a cancellation
  (:meth:`InterruptibleAgent.interrupt`: the task stops and its processes are
  killed). The reader never waits for the agent however slow it is to accept or
  to stop;
* ``pump`` - reads the agent's events and hands each, in agent order, to the core of
  the conversation running at that moment (which decides what to send). While a new
  realtime session replaces a lost one, an event waits for the new core (``deliver``),
  so a task's result is never handed to a session that is gone.

Approval questions: an agent that waits for the user's answer
(``ApprovalRequested(awaits_answer=True)``, an :class:`ApprovingAgent`) has its question
handed to the core (the
model asks it; ``ApprovalResolved`` closes it there), and the core's
:class:`~realtalk.protocol.ApprovalAnswer` comes back through :meth:`AgentLink.answer`
(``ApprovingAgent.answer_approval``; a question no longer waiting is logged, never
fatal). Questions asked by the agent's own approver (an app-server client, ``exec``
flags) are not put to the voice.

Agent failures of any kind are spoken back (``AgentActivity("failed")`` and the
handoff's failure output), never swallowed and never fatal to the conversation. A
task that ends interrupted (``INTERRUPTED_MESSAGE``) is reported as
``AgentActivity("cancelled")`` and given to the core as stopped (the end of a task
it cancelled, or a cancellation from elsewhere, e.g. ``turn/interrupt``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from realtalk.agent import (
    INTERRUPTED_MESSAGE,
    ApprovalDecision,
    ApprovalRequested,
    ApprovalResolved,
    ApprovingAgent,
    AssistantMessage,
    BackgroundAgent,
    InterruptibleAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.conversation._runtime import AgentOrder, ConversationRuntime
from realtalk.conversation._types import AgentActivity, ConversationEvent
from realtalk.protocol import ApprovalAnswer, Delegate

__all__ = ["SUBMISSION_QUEUE_SIZE", "AgentLink"]

logger = logging.getLogger("realtalk.conversation")

SUBMISSION_QUEUE_SIZE = 64
CANNOT_STOP = "this agent cannot stop a running task; its result will be ignored"


class _Stop:
    """The submission queue's cancel order."""


_STOP = _Stop()

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
        self._submissions: asyncio.Queue[str | _Stop] = asyncio.Queue(SUBMISSION_QUEUE_SIZE)
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

    async def route(self, runtime: ConversationRuntime, order: AgentOrder) -> None:
        """Carry out one order of the core (see :data:`AgentOrder`)."""
        if isinstance(order, Delegate):
            await self.delegate(runtime, order.text)
        elif isinstance(order, ApprovalAnswer):
            self.answer(order.request_id, approved=order.approved)
        else:
            await self.cancel(runtime)

    async def delegate(self, runtime: ConversationRuntime, text: str) -> None:
        """Hand ``text`` to the agent (start or steer) without waiting for it."""
        await self._emit(AgentActivity("submitted", text))
        if self.agent is None:
            logger.warning("handoff requested but no background agent is configured")
            await self._emit(AgentActivity("failed", "no background agent is configured"))
            await runtime.agent_failed("no background agent is configured")
            return
        await runtime.put_until_stopped(self._submissions, text)

    async def cancel(self, runtime: ConversationRuntime) -> None:
        """Stop the agent's running task, after the orders queued before (no waiting)."""
        if self.agent is None:
            return
        await runtime.put_until_stopped(self._submissions, _STOP)

    def answer(self, request_id: str, *, approved: bool) -> bool:
        """Give the agent the user's answer to its question ``request_id`` (no waiting).

        False (logged) when the agent cannot take answers or the question no longer
        waits (answered meanwhile, timed out, or its task ended).
        """
        agent = self.agent
        decision = ApprovalDecision.ACCEPT if approved else ApprovalDecision.DECLINE
        if not isinstance(agent, ApprovingAgent):
            logger.warning("an approval answer for an agent that takes none was dropped")
            return False
        taken = agent.answer_approval(request_id, decision)
        log = logger.info if taken else logger.warning
        log(
            "approval answer handed to the agent"
            if taken
            else "approval answer came too late: the question no longer waits",
            extra={"approval_id": request_id, "decision": decision.value},
        )
        return taken

    async def aclose(self) -> None:
        """Cancel and await both tasks (the agent itself belongs to the caller)."""
        tasks = [t for t in (self._pump_task, self._submit_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals -------------------------------------------------------------------

    async def _submitter(self, agent: BackgroundAgent) -> None:
        while True:
            order = await self._submissions.get()
            if isinstance(order, _Stop):
                await self._stop(agent)
                continue
            try:
                await agent.submit(order)
            except Exception as exc:  # any agent failure is spoken back, never fatal here
                logger.warning("background agent rejected the handoff: %s", exc)
                await self._failed(str(exc))

    async def _stop(self, agent: BackgroundAgent) -> None:
        if not isinstance(agent, InterruptibleAgent):
            # The core already answered the handoff; the task's end will be ignored.
            logger.warning("the background agent cannot stop its running task")
            await self._emit(AgentActivity("cancelled", CANNOT_STOP))
            return
        try:
            stopped = await agent.interrupt()
        except Exception:  # the core has answered the handoff: report, never fail here
            logger.exception("stopping the background agent's task failed")
            return
        logger.info("background agent task stop requested", extra={"was_running": stopped})

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
            elif isinstance(event, TaskFailed) and event.message == INTERRUPTED_MESSAGE:
                await self._emit(AgentActivity("cancelled", "the task was stopped"))
                await self._deliver(lambda runtime: runtime.agent_stopped())
            elif isinstance(event, TaskFailed):
                await self._failed(event.message)
            elif isinstance(event, ApprovalRequested) and self._answerable(agent, event):
                await self._question(event)
            elif isinstance(event, ApprovalResolved):
                await self._resolved(event)

    @staticmethod
    def _answerable(agent: BackgroundAgent, event: ApprovalRequested) -> bool:
        """The agent waits for this answer, and takes answers (``answer_approval``)."""
        return event.awaits_answer and isinstance(agent, ApprovingAgent)

    async def _question(self, event: ApprovalRequested) -> None:
        request = event.request
        await self._deliver(lambda runtime: runtime.agent_question(request.id, request.question))

    async def _resolved(self, event: ApprovalResolved) -> None:
        rid, approved = event.request_id, event.decision.approved
        await self._deliver(lambda runtime: runtime.agent_question_resolved(rid, approved=approved))

    async def _message(self, text: str) -> None:
        await self._deliver(lambda runtime: runtime.agent_message(text))

"""The background agent with a tap: a UI sees every agent event the conversation sees.

The conversation reads the agent's single event stream and passes on only what the
realtime model needs (messages, the end of a task). A console also wants the tools
at work (``CommandStarted``, ``CommandOutput``, ``PatchApplied`` ...): :class:`TappedAgent`
wraps the agent, hands each event to ``tap`` (synchronously, in order) and then to the
conversation, and forwards everything else - ``interrupt`` and ``answer_approval``
included, so cancelling the running task and answering its questions work through
the wrapper.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from realtalk.agent import (
    AgentEvent,
    ApprovalDecision,
    ApprovingAgent,
    BackgroundAgent,
    InterruptibleAgent,
)

__all__ = ["AgentTap", "TappedAgent"]

AgentTap = Callable[[AgentEvent], None]


class TappedAgent:
    """``agent`` whose events are shown to ``tap`` first (see the module docs)."""

    def __init__(self, agent: BackgroundAgent, tap: AgentTap) -> None:
        self.agent = agent
        self._tap = tap

    @property
    def busy(self) -> bool:
        return self.agent.busy

    async def submit(self, text: str) -> None:
        await self.agent.submit(text)

    async def events(self) -> AsyncIterator[AgentEvent]:
        async for event in self.agent.events():
            self._tap(event)
            yield event

    async def interrupt(self) -> bool:
        """Stop the running task (False: none, or the agent cannot be interrupted)."""
        if isinstance(self.agent, InterruptibleAgent):
            return await self.agent.interrupt()
        return False

    def answer_approval(self, request_id: str, decision: ApprovalDecision) -> bool:
        """Answer the agent's question (False: not waiting, or the agent takes none)."""
        if isinstance(self.agent, ApprovingAgent):
            return self.agent.answer_approval(request_id, decision)
        return False

    @property
    def pending_approvals(self) -> list[str]:
        if isinstance(self.agent, ApprovingAgent):
            return self.agent.pending_approvals
        return []

    async def aclose(self) -> None:
        await self.agent.aclose()

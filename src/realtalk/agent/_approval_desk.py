"""Where the built-in agent's approval questions go, and their answers come back.

With an :data:`~realtalk.agent.Approver`, the desk awaits it. Without one, a
question waits for :meth:`ApprovalDesk.answer` (a conversation or UI that read
the :class:`ApprovalRequested` event calls it); an unanswered question is
declined after ``timeout_s``. Either way the question is reported as
:class:`ApprovalRequested` before the wait and :class:`ApprovalResolved` after
it, and logged. An approver that raises declines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from realtalk.agent._approval import ApprovalDecision, ApprovalRequest, Approver
from realtalk.agent._interface import AgentEvent, ApprovalRequested, ApprovalResolved

__all__ = ["ApprovalDesk"]

logger = logging.getLogger(__name__)


class ApprovalDesk:
    """Asks one question at a time on behalf of the agent's tools."""

    def __init__(
        self,
        approver: Approver | None,
        emit: Callable[[AgentEvent], Awaitable[None]],
        *,
        timeout_s: float,
    ) -> None:
        self._approver = approver
        self._emit = emit
        self._timeout_s = timeout_s
        self._waiting: dict[str, asyncio.Future[ApprovalDecision]] = {}

    @property
    def pending(self) -> list[str]:
        """Ids of questions waiting for :meth:`answer`."""
        return [rid for rid, f in self._waiting.items() if not f.done()]

    def answer(self, request_id: str, decision: ApprovalDecision) -> bool:
        """Answer a pending question; False when ``request_id`` is not pending."""
        future = self._waiting.get(request_id)
        if future is None or future.done():
            return False
        future.set_result(decision)
        return True

    async def ask(self, request: ApprovalRequest) -> ApprovalDecision:
        """The user's decision on ``request`` (see the module docs)."""
        logger.info(
            "agent asks for approval",
            extra={"approval_id": request.id, "kind": request.kind, "reason": request.reason},
        )
        await self._emit(ApprovalRequested(request, awaits_answer=self._approver is None))
        decision = ApprovalDecision.DECLINE
        try:
            if self._approver is not None:
                decision = await self._approver(request)
            else:
                decision = await self._wait(request.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the approver failed; the request is declined")
        logger.info(
            "approval answered", extra={"approval_id": request.id, "decision": decision.value}
        )
        await self._emit(ApprovalResolved(request.id, decision))
        return decision

    async def _wait(self, request_id: str) -> ApprovalDecision:
        future: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            async with asyncio.timeout(self._timeout_s):
                return await future
        except TimeoutError:
            logger.warning(
                "approval question unanswered after %g s; declined",
                self._timeout_s,
                extra={"approval_id": request_id},
            )
            return ApprovalDecision.DECLINE
        finally:
            self._waiting.pop(request_id, None)

"""Owns the response task: at most one active response, the v1 speech queue, cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from realtalk.emulator._script import BACKGROUND_AGENT_TOOL, Plan, PlanKind
from realtalk.emulator._speech import ActiveResponse, ResponseWriter

__all__ = ["Responder"]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
_CANCEL_WAIT_S: Final = 5.0


class Responder:
    """Runs responses in one owned task; :meth:`aclose` cancels and awaits it."""

    def __init__(
        self,
        writer: ResponseWriter,
        new_response: Callable[[JsonDict], ActiveResponse],
        on_handoff_call: Callable[[], None],
    ) -> None:
        self._writer = writer
        self._new_response = new_response
        self._on_handoff_call = on_handoff_call
        self.active: ActiveResponse | None = None
        self._task: asyncio.Task[None] | None = None
        # v1 conversation.handoff.append texts waiting to be spoken, in order.
        self._speech_queue: deque[str] = deque()
        self._closed = False

    def start(self, params: JsonDict, plan: Plan) -> None:
        """Start a response (the caller checked that none is active); no-op once closed."""
        if self._closed:
            return
        resp = self._new_response(params)
        self.active = resp
        self._task = asyncio.create_task(
            self._run(resp, plan), name=f"emulator-response-{resp.response_id}"
        )

    def queue_speech(self, text: str) -> None:
        """Speak ``text`` now, or right after the active response (v1 handoff output)."""
        if self._closed:
            return
        if self.active is None:
            self.start({}, Plan(PlanKind.SPEAK, text=text))
        else:
            self._speech_queue.append(text)

    async def _run(self, resp: ActiveResponse, plan: Plan) -> None:
        try:
            if plan.kind is PlanKind.CALL_TOOL:
                if plan.tool_name == BACKGROUND_AGENT_TOOL:
                    self._on_handoff_call()
                await self._writer.call_tool(resp, plan.tool_name, plan.arguments)
            else:
                await self._writer.speak(resp, plan.text)
            while self._speech_queue and resp.cancel_reason is None:
                resp = self._new_response({})
                self.active = resp
                await self._writer.speak(resp, self._speech_queue.popleft())
        except Exception:
            logger.exception("emulator response failed", extra={"response_id": resp.response_id})
        finally:
            self.active = None
            if self._task is asyncio.current_task():
                self._task = None

    async def cancel(self, reason: str) -> bool:
        """Cancel the active response and wait until its ``response.done`` went out."""
        resp, task = self.active, self._task
        if resp is None:
            return False
        self._speech_queue.clear()
        resp.cancel(reason)
        if task is not None:
            _done, pending = await asyncio.wait([task], timeout=_CANCEL_WAIT_S)
            if pending:  # a sink is stuck: stop waiting for a graceful tail
                task.cancel()
                await asyncio.wait([task])
        return True

    async def aclose(self) -> None:
        """Hard-stop any running response; idempotent. No response starts afterwards."""
        self._closed = True
        self._speech_queue.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

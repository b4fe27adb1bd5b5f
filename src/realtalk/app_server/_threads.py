"""One app-server thread: its agent (turns), its realtime conversation, its job queue.

Thread-scoped requests run as jobs on the thread's own worker, one at a time in
arrival order; different threads run concurrently. The job queue holds
:data:`JOB_QUEUE_SIZE` requests; when it is full the request is refused with
``-32001 Server overloaded; retry later.`` (the client retries).

The conversation's events are mapped to ``thread/realtime/*`` notifications by a
pump that reads the conversation's subscription without pause (the subscription
applies back-pressure, so a stalled client would stall only its own thread until
the connection's slow-client policy disconnects it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from realtalk._config import Settings
from realtalk.agent import (
    Approver,
    BackgroundAgent,
    ModelClient,
    ModelClientOptions,
    ResponsesAgent,
    SafetyOptions,
)
from realtalk.app_server._agent_bridge import AgentBridge, Emit
from realtalk.app_server._api import Thread
from realtalk.app_server._approvals import ClientApprover, ServerCall
from realtalk.app_server._mapping import map_event
from realtalk.conversation import ConversationManager

__all__ = [
    "DEFAULT_AGENT_INSTRUCTIONS",
    "JOB_QUEUE_SIZE",
    "AgentFactory",
    "ThreadConfig",
    "ThreadHandle",
    "responses_agent_factory",
]

logger = logging.getLogger(__name__)

JOB_QUEUE_SIZE: Final = 256
"""Pending requests per thread (about 5 s of 20 ms audio frames)."""
_CLOSE_TIMEOUT_S: Final = 10.0

DEFAULT_AGENT_INSTRUCTIONS: Final = (
    "You are a coding agent working in the user's workspace. Use the tools to inspect "
    "files and run commands when that helps, and answer briefly and concretely."
)

Job = Callable[[], Awaitable[None]]


class ThreadConfig:
    """What ``thread/start`` resolved for one thread."""

    def __init__(
        self,
        *,
        thread_id: str,
        cwd: Path,
        model: str,
        instructions: str,
        safety: SafetyOptions | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.cwd = cwd
        self.model = model
        self.instructions = instructions
        self.safety = safety or SafetyOptions()
        self.approver: Approver | None = None
        """Set by :class:`ThreadHandle`: asks the thread's client."""


AgentFactory = Callable[[Settings, ThreadConfig], BackgroundAgent]


def responses_agent_factory(settings: Settings, config: ThreadConfig) -> BackgroundAgent:
    """The built-in agent: ``ResponsesAgent`` on a fresh ``ModelClient``."""
    client = ModelClient(
        settings.base_url,
        # No key: requests go out unauthenticated and the turn fails with the
        # server's message, which tells the user what is missing.
        api_key=settings.api_key or "",
        session_id=config.thread_id,
        options=ModelClientOptions(workspace=config.cwd),
    )
    return ResponsesAgent(
        client,
        workspace=config.cwd,
        model=config.model,
        instructions=config.instructions,
        enable_shell=settings.agent_enable_shell,
        safety=config.safety,
        approver=config.approver,
    )


class ThreadHandle:
    """A live thread owned by one connection."""

    def __init__(
        self,
        settings: Settings,
        config: ThreadConfig,
        emit: Emit,
        *,
        agent_factory: AgentFactory = responses_agent_factory,
        call: ServerCall | None = None,
    ) -> None:
        self.config = config
        self.id = config.thread_id
        self.created_at = int(time.time())
        self._emit = emit
        if call is not None:
            config.approver = ClientApprover(
                self.id,
                call=call,
                notify=emit,
                turn_id=lambda: self.bridge.active_turn_id,
                timeout_s=config.safety.approval_timeout_s,
            )
        self.bridge = AgentBridge(self.id, lambda: agent_factory(settings, config), emit)
        self.manager = ConversationManager(
            settings, agent=self.bridge, thread_id=self.id, workspace=config.cwd
        )
        self._jobs: asyncio.Queue[Job] = asyncio.Queue(JOB_QUEUE_SIZE)
        self._running = 0
        self._subscription = self.manager.subscribe()
        self._events = asyncio.create_task(
            self._pump_events(), name=f"realtalk-app-events-{self.id}"
        )
        self._worker = asyncio.create_task(self._run_jobs(), name=f"realtalk-app-jobs-{self.id}")
        self._closed = False

    def describe(self, model_provider: str) -> Thread:
        return Thread(
            id=self.id,
            preview="",
            created_at=self.created_at,
            cwd=str(self.config.cwd),
            model_provider=model_provider,
        )

    @property
    def idle(self) -> bool:
        """No request of this thread is queued or running."""
        return self._running == 0 and self._jobs.empty()

    def submit_job(self, job: Job) -> bool:
        """Queue a request of this thread; False when the queue is full or closed."""
        if self._closed:
            return False
        try:
            self._jobs.put_nowait(job)
        except asyncio.QueueFull:
            return False
        return True

    async def _run_jobs(self) -> None:
        while True:
            job = await self._jobs.get()
            self._running = 1
            try:
                await job()
            except Exception:  # a job answers its own errors; this is a bug guard
                logger.exception("app-server job failed", extra={"thread_id": self.id})
            finally:
                self._running = 0

    async def _pump_events(self) -> None:
        async for event in self._subscription:
            notification = map_event(self.id, event)
            if notification is not None:
                await self._emit(notification.method, notification.params)

    async def aclose(self) -> None:
        """End the conversation cleanly (no events), close the agent. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self.manager.aclose()
                await self.bridge.aclose()
        except TimeoutError:
            logger.warning("closing thread timed out", extra={"thread_id": self.id})
        self._subscription.close()
        self._events.cancel()
        await asyncio.gather(self._events, return_exceptions=True)

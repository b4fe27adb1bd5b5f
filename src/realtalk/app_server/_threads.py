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
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final

import msgspec

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
from realtalk.app_server._api import (
    Thread,
    ThreadStatus,
    ThreadStatusActive,
    ThreadStatusIdle,
    Turn,
)
from realtalk.app_server._approvals import ClientApprover, ServerCall
from realtalk.app_server._mapping import map_event
from realtalk.app_server._methods import NotificationMethod
from realtalk.app_server._recorder import ThreadRecorder
from realtalk.app_server._store import Item
from realtalk.conversation import ConversationEvent, ConversationManager, Realtime
from realtalk.protocol import (
    AudioOut,
    InputTranscriptDelta,
    InputTranscriptDone,
    OutputTranscriptDelta,
    OutputTranscriptDone,
)

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
_STREAMED: Final = (AudioOut, OutputTranscriptDelta, InputTranscriptDelta)

DEFAULT_AGENT_INSTRUCTIONS: Final = (
    "You are a coding agent working in the user's workspace. Use the tools to inspect "
    "files and run commands when that helps, and answer briefly and concretely."
)

Job = Callable[[], Awaitable[None]]
EmitNow = Callable[[NotificationMethod, msgspec.Struct], bool]
"""Send a notification without waiting; False: no room now (``Emit`` it instead)."""


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
        history: Sequence[Item] = (),
    ) -> None:
        self.thread_id = thread_id
        self.cwd = cwd
        self.model = model
        self.instructions = instructions
        self.safety = safety or SafetyOptions()
        self.history: list[Item] = list(history)
        """The agent history to continue (a resumed thread); set again for a new agent."""
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
        options=ModelClientOptions(
            workspace=config.cwd, connect_timeout_s=settings.connect_timeout_s
        ),
    )
    return ResponsesAgent(
        client,
        workspace=config.cwd,
        model=config.model,
        instructions=config.instructions,
        enable_shell=settings.agent_enable_shell,
        safety=config.safety,
        approver=config.approver,
        history=config.history,
        task_timeout_s=settings.agent_timeout_s,
    )


class ThreadHandle:
    """A live thread owned by one connection."""

    def __init__(
        self,
        settings: Settings,
        config: ThreadConfig,
        emit: Emit,
        *,
        emit_now: EmitNow | None = None,
        recorder: ThreadRecorder,
        agent_factory: AgentFactory = responses_agent_factory,
        call: ServerCall | None = None,
        ephemeral: bool = False,
    ) -> None:
        self.config = config
        self.id = config.thread_id
        self._emit_now = emit_now
        self.recorder = recorder
        self.ephemeral = ephemeral
        emit = recorder.wrap(emit)
        self._emit = emit
        if call is not None:
            config.approver = ClientApprover(
                self.id,
                call=call,
                notify=emit,
                turn_id=lambda: self.bridge.active_turn_id,
                timeout_s=config.safety.approval_timeout_s,
            )
        self._bridge: AgentBridge | None = None

        def new_agent() -> BackgroundAgent:
            # A replacement agent continues from its predecessor's history.
            previous = self._bridge.agent if self._bridge is not None else None
            if isinstance(previous, ResponsesAgent):
                config.history = previous.history
            agent = agent_factory(settings, config)
            recorder.track(agent, len(config.history))
            return agent

        self.bridge = self._bridge = AgentBridge(self.id, new_agent, emit)
        recorder.attach(lambda: self.bridge.agent)
        self.manager = ConversationManager(
            settings,
            agent=self.bridge,
            thread_id=self.id,
            workspace=config.cwd,
            thread_history=recorder.context_turns,
        )
        self._jobs: asyncio.Queue[Job] = asyncio.Queue(JOB_QUEUE_SIZE)
        self._running = 0
        self._subscription = self.manager.subscribe(sink=self._deliver_now)
        self._events = asyncio.create_task(
            self._pump_events(), name=f"realtalk-app-events-{self.id}"
        )
        self._worker = asyncio.create_task(self._run_jobs(), name=f"realtalk-app-jobs-{self.id}")
        self._closed = False

    @property
    def status(self) -> ThreadStatus:
        if self.bridge.active_turn_id is not None:
            return ThreadStatusActive()
        return ThreadStatusIdle()

    def describe(self, model_provider: str, turns: list[Turn] | None = None) -> Thread:
        thread = self.recorder.describe(model_provider, self.status, turns or [])
        return msgspec.structs.replace(thread, ephemeral=self.ephemeral)

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

    def _deliver_now(self, event: ConversationEvent) -> bool:
        """The subscription's fast path: a streaming delta goes to the client's outbox
        at once, without waking the pump (one task wake-up per delta was a tenth of the
        app-server's CPU under load). The recorder stores none of these notifications.
        Anything else, or a full outbox, takes the pump below."""
        if self._emit_now is None or type(event) is not Realtime:
            return False
        if not isinstance(event.payload, _STREAMED):
            return False
        notification = map_event(self.id, event)
        if notification is None:
            return True
        return self._emit_now(notification.method, notification.params)

    async def _pump_events(self) -> None:
        async for event in self._subscription:
            if isinstance(event, Realtime):
                payload = event.payload
                if isinstance(payload, InputTranscriptDone):
                    self.recorder.transcript("user", payload.text)
                elif isinstance(payload, OutputTranscriptDone):
                    self.recorder.transcript("assistant", payload.text)
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
        await self.recorder.aclose()

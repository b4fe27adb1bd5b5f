"""When is a local ``talk`` turn over, and when has it stalled?

The conversation core (``realtalk.protocol.ConversationCore``) emits ``TurnStarted``
when the assistant comes to owe an answer (a request, speech, a delegation, agent
output still to be spoken) and ``TurnDone`` when nothing is owed any more, for v1 and
v2 alike. :class:`TurnTracker` turns those into an ``idle`` event the CLI waits on, and
keeps the conversation's end and errors.

``--timeout`` is an *idle* limit, not a cap on a turn: :func:`wait_for_turn` gives up
only when nothing happened for that long — no server event, no agent progress, no
input — while no agent task runs. A running agent task is never cut short here; the
agent's own limit (``[agent] timeout_s``) bounds it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from realtalk._errors import RealtalkError
from realtalk.conversation import AgentActivity, Closed, ConversationEvent, Realtime
from realtalk.protocol import ErrorEvent, TurnDone, TurnStarted

__all__ = ["IdleTimeoutError", "TurnTracker", "idle_timeout_error", "wait_for_turn"]


class IdleTimeoutError(RealtalkError):
    """Nothing happened for the idle limit while waiting for the assistant."""


def idle_timeout_error(limit: float) -> IdleTimeoutError:
    return IdleTimeoutError(
        f"timed out: nothing happened for {limit:g}s while waiting for the assistant "
        "(no server event, agent progress or input); raise --timeout"
    )


async def wait_for_turn(
    wait: Callable[[], Awaitable[object]],
    *,
    done: Callable[[], bool],
    last_activity: Callable[[], float],
    agent_running: Callable[[], bool],
    limit: float,
) -> None:
    """Run ``wait`` until ``done()``, unless nothing happens for ``limit`` seconds.

    ``last_activity()`` is the ``time.monotonic()`` of the last thing that happened; while
    ``agent_running()`` the limit is suspended (the agent's own limit governs).
    ``wait`` returns when the awaited thing may have happened (it is called again
    if ``done()`` is still false) and may raise to end the wait.

    Raises:
        IdleTimeoutError: ``limit`` seconds passed with nothing happening.
    """
    since = time.monotonic()  # the wait starts right after the caller's own input
    while not done():
        remaining = max(last_activity(), since) + limit - time.monotonic()
        if remaining <= 0:
            if not agent_running():
                raise idle_timeout_error(limit)
            since = time.monotonic()  # look again later: the agent may still be working
            remaining = limit
        try:
            async with asyncio.timeout(remaining):
                await wait()
        except TimeoutError:
            continue


class TurnTracker:
    """Follows the conversation's events: turns, errors, activity and the end."""

    def __init__(self) -> None:
        self.idle = asyncio.Event()
        self.busy = asyncio.Event()  # the complement of ``idle``
        self.closed: Closed | None = None
        self.ended = asyncio.Event()  # set once the conversation is Closed
        self.errors: list[str] = []
        self.errored = asyncio.Event()
        self.failure: str | None = None  # the run could not handle an event (see fail())
        self.agent_running = False
        """An agent task runs (from its submission to its end): the idle limit waits."""
        self.last_activity = 0.0
        """``time.monotonic()`` of the last event or input."""
        self._set_idle(idle=True)  # nothing is owed until the person says something

    def touch(self) -> None:
        """Something happened (an event, the person's input): the idle clock restarts."""
        self.last_activity = time.monotonic()

    def _set_idle(self, *, idle: bool) -> None:
        if idle:
            self.idle.set()
            self.busy.clear()
        else:
            self.idle.clear()
            self.busy.set()

    def expect_turn(self) -> None:
        """The person just said something: not idle until the core says the turn is done."""
        self.touch()
        if self.closed is None and self.failure is None:
            self._set_idle(idle=False)

    def fail(self, message: str) -> None:
        """The run can no longer follow the conversation: end every wait with ``message``."""
        self.failure = message
        self.errors.append(message)
        self.errored.set()
        self.ended.set()
        self._set_idle(idle=True)

    def observe(self, event: ConversationEvent) -> None:
        self.touch()
        if isinstance(event, Closed):
            self.closed = event
            self.ended.set()
            self._set_idle(idle=True)
        elif isinstance(event, Realtime):
            payload = event.payload
            if isinstance(payload, TurnDone):
                self._set_idle(idle=True)
            elif isinstance(payload, TurnStarted):
                self._set_idle(idle=False)
            elif isinstance(payload, ErrorEvent):
                self.errors.append(payload.message)
                self.errored.set()
        elif isinstance(event, AgentActivity):
            if event.kind == "submitted":
                self.agent_running = True
            elif event.kind in ("complete", "failed", "cancelled"):
                self.agent_running = False

    async def wait_idle(self, limit: float) -> None:
        """Until the turn is over (see :func:`wait_for_turn` for ``limit``)."""
        await wait_for_turn(
            self.idle.wait,
            done=self.idle.is_set,
            last_activity=lambda: self.last_activity,
            agent_running=lambda: self.agent_running,
            limit=limit,
        )

    async def watch(self, limit: float) -> None:
        """Raise :class:`IdleTimeoutError` when a turn in progress stalls; never returns."""
        while True:
            await self.busy.wait()
            await self.wait_idle(limit)  # returns once idle (and so not busy) again

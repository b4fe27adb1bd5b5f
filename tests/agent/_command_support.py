"""What the CommandAgent tests share: scripts run with this interpreter, bounded
waits for events, and the reaped check.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable

import pytest

from realtalk.agent import AgentEvent, CommandAgent, TaskComplete, TaskFailed

Factory = Callable[..., CommandAgent]
WAIT = 20.0  # generous upper bound for any single wait; tests normally take milliseconds


def script(source: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(source)]


async def next_event(events: AsyncIterator[AgentEvent]) -> AgentEvent:
    async with asyncio.timeout(WAIT):
        return await anext(events)


async def run_task(agent: CommandAgent, text: str) -> list[AgentEvent]:
    """Submit ``text`` and collect events up to and including the terminal one."""
    events = aiter(agent.events())
    await agent.submit(text)
    collected: list[AgentEvent] = []
    while not collected or not isinstance(collected[-1], TaskComplete | TaskFailed):
        collected.append(await next_event(events))
    return collected


def assert_reaped(pid: int) -> None:
    # A zombie still answers signal 0; only a reaped process is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

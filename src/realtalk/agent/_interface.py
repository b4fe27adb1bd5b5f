"""The background-agent interface the conversation hands work to.

A background agent runs one task at a time. ``submit`` starts a task when the
agent is idle and steers the running task otherwise; it returns as soon as the
text is accepted (it never waits for the task). The agent reports progress as a
stream of :data:`AgentEvent` values read by exactly one consumer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import msgspec

__all__ = [
    "AgentEvent",
    "AssistantMessage",
    "BackgroundAgent",
    "TaskComplete",
    "TaskFailed",
]


class _AgentEvent(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class AssistantMessage(_AgentEvent, frozen=True, tag="assistant_message"):
    """One complete assistant message of the running task."""

    text: str


class TaskComplete(_AgentEvent, frozen=True, tag="task_complete"):
    """The running task finished (the agent is idle again)."""


class TaskFailed(_AgentEvent, frozen=True, tag="task_failed"):
    """The running task failed; ``message`` is short and speakable."""

    message: str


AgentEvent = AssistantMessage | TaskComplete | TaskFailed


@runtime_checkable
class BackgroundAgent(Protocol):
    """What the conversation needs from a background agent."""

    @property
    def busy(self) -> bool:
        """True while a task is running."""
        ...

    async def submit(self, text: str) -> None:
        """Start a task with ``text`` if idle, else steer the running task with it."""
        ...

    def events(self) -> AsyncIterator[AgentEvent]:
        """The agent's event stream (single consumer; ends after ``aclose``)."""
        ...

    async def aclose(self) -> None:
        """Cancel any running task and release resources. Idempotent."""
        ...

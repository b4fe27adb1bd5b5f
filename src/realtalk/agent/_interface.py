"""The background-agent interface the conversation hands work to.

A background agent runs one task at a time. ``submit`` starts a task when the
agent is idle and steers the running task otherwise; it returns as soon as the
text is accepted (it never waits for the task). The agent reports progress as a
stream of :data:`AgentEvent` values read by exactly one consumer.

Streaming: an agent may send :class:`AssistantDelta` pieces before a message. The
deltas since the previous :class:`AssistantMessage` (or since the task started)
are pieces of the next one, whose text is authoritative: a consumer that shows
deltas replaces them with it, and drops pending pieces when the task ends first.
Consumers that only want whole messages ignore deltas.

Interrupting: an agent that can stop its running task and keep its thread
implements :class:`InterruptibleAgent`. The task then ends with
``TaskFailed(INTERRUPTED_MESSAGE)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, Protocol, runtime_checkable

import msgspec

__all__ = [
    "INTERRUPTED_MESSAGE",
    "AgentEvent",
    "AssistantDelta",
    "AssistantMessage",
    "BackgroundAgent",
    "InterruptibleAgent",
    "TaskComplete",
    "TaskFailed",
]


INTERRUPTED_MESSAGE: Final = "The background agent's task was interrupted."
"""The message of the :class:`TaskFailed` that ends an interrupted task."""


class _AgentEvent(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class AssistantDelta(_AgentEvent, frozen=True, tag="assistant_delta"):
    """The next piece of the assistant message being written (see the module docs)."""

    text: str


class AssistantMessage(_AgentEvent, frozen=True, tag="assistant_message"):
    """One complete assistant message of the running task."""

    text: str


class TaskComplete(_AgentEvent, frozen=True, tag="task_complete"):
    """The running task finished (the agent is idle again)."""


class TaskFailed(_AgentEvent, frozen=True, tag="task_failed"):
    """The running task failed; ``message`` is short and speakable."""

    message: str


AgentEvent = AssistantDelta | AssistantMessage | TaskComplete | TaskFailed


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


@runtime_checkable
class InterruptibleAgent(BackgroundAgent, Protocol):
    """A background agent whose running task can be stopped without losing its thread."""

    async def interrupt(self) -> bool:
        """Stop the running task; False when none was running.

        The task ends with ``TaskFailed(INTERRUPTED_MESSAGE)``; the agent keeps its
        history and takes the next task.
        """
        ...

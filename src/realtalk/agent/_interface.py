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

Tools and approvals: the built-in agent also reports what it does —
:class:`CommandStarted` / :class:`CommandFinished` around every command (and
:class:`CommandOutput` with the newest lines while it runs),
:class:`PatchApplied` for every ``apply_patch`` call — and every question it asks
the user (:class:`ApprovalRequested`, then :class:`ApprovalResolved` with the
answer). Consumers that do not show them ignore them; a consumer that can ask
the user answers an :class:`ApprovalRequested` through
:meth:`~realtalk.agent.ResponsesAgent.answer_approval` when the agent has no
approver of its own.

Interrupting: an agent that can stop its running task and keep its thread
implements :class:`InterruptibleAgent`. The task then ends with
``TaskFailed(INTERRUPTED_MESSAGE)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, Literal, Protocol, runtime_checkable

import msgspec

from realtalk.agent._approval import ApprovalDecision, ApprovalRequest

__all__ = [
    "AGENT_EVENT_TYPES",
    "INTERRUPTED_MESSAGE",
    "AgentEvent",
    "ApprovalRequested",
    "ApprovalResolved",
    "ApprovingAgent",
    "AssistantDelta",
    "AssistantMessage",
    "BackgroundAgent",
    "CommandFinished",
    "CommandOutput",
    "CommandStarted",
    "FileChange",
    "PatchApplied",
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


ToolStatus = Literal["completed", "failed", "declined"]


class CommandStarted(_AgentEvent, frozen=True, tag="command_started"):
    """A command starts; ``sandbox`` is the policy it runs under (``none``: unsandboxed)."""

    call_id: str
    command: list[str]
    cwd: str
    sandbox: str


class CommandOutput(_AgentEvent, frozen=True, tag="command_output"):
    """The newest lines the running command ``call_id`` printed (for UIs; best effort).

    Scrubbed, bounded and rate limited (see ``agent/_output_tail.py``): lines that
    scroll past between two events may be missing. :class:`CommandFinished` has the
    command's whole (capped) output.
    """

    call_id: str
    text: str


class CommandFinished(_AgentEvent, frozen=True, tag="command_finished"):
    """A command ended (``exit_code`` None: timed out, refused or declined)."""

    call_id: str
    command: list[str]
    exit_code: int | None
    output: str
    status: ToolStatus


class FileChange(msgspec.Struct, frozen=True):
    path: str
    kind: Literal["add", "update", "delete"]


class PatchApplied(_AgentEvent, frozen=True, tag="patch_applied"):
    """An ``apply_patch`` call ended; ``output`` is what the model was told."""

    call_id: str
    changes: list[FileChange]
    status: ToolStatus
    output: str


class ApprovalRequested(_AgentEvent, frozen=True, tag="approval_requested"):
    """The agent waits for the user's answer to ``request`` (see the module docs).

    ``awaits_answer``: the answer must come through
    :meth:`ApprovingAgent.answer_approval` (the agent has no approver of its own), so a
    consumer that can ask the user (a voice conversation) should; False: the agent's
    approver is asking, the event is for display.
    """

    request: ApprovalRequest
    awaits_answer: bool = False


class ApprovalResolved(_AgentEvent, frozen=True, tag="approval_resolved"):
    """The question ``request_id`` was answered (or timed out: ``decline``)."""

    request_id: str
    decision: ApprovalDecision


AgentEvent = (
    AssistantDelta
    | AssistantMessage
    | TaskComplete
    | TaskFailed
    | CommandStarted
    | CommandOutput
    | CommandFinished
    | PatchApplied
    | ApprovalRequested
    | ApprovalResolved
)

AGENT_EVENT_TYPES: Final = (
    AssistantDelta,
    AssistantMessage,
    TaskComplete,
    TaskFailed,
    CommandStarted,
    CommandOutput,
    CommandFinished,
    PatchApplied,
    ApprovalRequested,
    ApprovalResolved,
)
"""The classes of :data:`AgentEvent`, for ``isinstance`` checks."""


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


@runtime_checkable
class ApprovingAgent(BackgroundAgent, Protocol):
    """A background agent whose approval questions a consumer may answer.

    The built-in agent implements it; it waits for an answer only when it was built
    without an approver (``ResponsesAgent(approver=None)``).
    """

    def answer_approval(self, request_id: str, decision: ApprovalDecision) -> bool:
        """Answer the pending :class:`ApprovalRequested` ``request_id``; False if not pending."""
        ...

    @property
    def pending_approvals(self) -> list[str]:
        """Ids of the questions waiting for an answer."""
        ...

"""One turn of a thread's agent, told to the client as ``turn/*`` and ``item/*`` notifications.

:class:`TurnReport` holds what a turn has shown so far (its items, the message being
streamed, the commands started and not finished) and turns each agent event into
notifications, in the order the reference gives:

* ``turn/started``, then the task as a ``userMessage`` item (started and completed).
* An assistant message: ``item/started`` -> one ``item/agentMessage/delta`` per
  streamed piece (an agent that does not stream gets one delta with the whole text)
  -> exactly one ``item/completed`` with the full, authoritative text. A message the
  task never finished is completed with the text streamed so far.
* A command: ``item/started`` when it starts, one ``item/commandExecution/outputDelta``
  per :class:`~realtalk.agent.CommandOutput` while it runs (new whole lines, each ending
  with a newline), ``item/completed`` with the whole (capped) ``aggregatedOutput``. A
  patch is a ``fileChange`` item; a tool declined or refused before it started gets its
  ``item/started`` with its ``item/completed``.
* The end: ``turn/completed`` (``completed``, ``interrupted``, or ``failed`` after an
  ``error`` notification).

Which turn an event belongs to, and when a turn ends, is the bridge's
(``_agent_bridge.py``).
"""

from __future__ import annotations

import asyncio
import shlex
import uuid
from collections.abc import Awaitable, Callable

import msgspec

from realtalk.agent import CommandFinished, CommandOutput, CommandStarted, PatchApplied
from realtalk.app_server._api import (
    AgentMessageDeltaNotification,
    AgentMessageItem,
    CommandExecutionItem,
    CommandExecutionOutputDeltaNotification,
    ErrorNotification,
    FileChangeItem,
    FileUpdateChange,
    ItemCompletedNotification,
    ItemStartedNotification,
    TextInput,
    ThreadItem,
    Turn,
    TurnCompletedNotification,
    TurnError,
    TurnStartedNotification,
    TurnStatus,
    UserMessageItem,
)
from realtalk.app_server._methods import NotificationMethod

__all__ = ["Emit", "TurnReport", "new_id"]

Emit = Callable[[NotificationMethod, msgspec.Struct], Awaitable[None]]
"""Sends one notification (method, params) to the thread's client."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class _OpenMessage:
    """An ``agentMessage`` item that was started and is not completed yet."""

    def __init__(self, item_id: str) -> None:
        self.id = item_id
        self.pieces: list[str] = []


class TurnReport:
    """One turn's items, and the notifications that show them (see the module docs)."""

    def __init__(self, thread_id: str, turn_id: str, emit: Emit) -> None:
        self.thread_id = thread_id
        self.id = turn_id
        self._emit = emit
        self.items: list[ThreadItem] = []
        self.interrupted = False
        """Set when the turn is being stopped: its ``TaskFailed`` ends it ``interrupted``."""
        self.ended = asyncio.Event()
        self._message: _OpenMessage | None = None
        self._started_tools: dict[str, str] = {}
        """call id -> cwd of the commands started and not finished yet."""

    def snapshot(self, status: TurnStatus, error: str | None = None) -> Turn:
        return Turn(
            id=self.id,
            status=status,
            items=list(self.items),
            error=None if error is None else TurnError(message=error),
        )

    async def start(self, text: str) -> None:
        """``turn/started``, then the task ``text`` as a ``userMessage`` item."""
        await self._emit(
            NotificationMethod.TURN_STARTED,
            TurnStartedNotification(thread_id=self.thread_id, turn=self.snapshot("inProgress")),
        )
        item = UserMessageItem(id=new_id("item"), content=[TextInput(text=text)])
        self.items.append(item)
        await self._started(item)
        await self._completed(item)

    async def tool(self, event: CommandStarted | CommandFinished | PatchApplied) -> None:
        """``item/started`` / ``item/completed`` for a command or a patch (id: the call id)."""
        item: CommandExecutionItem | FileChangeItem
        if isinstance(event, CommandStarted):
            item = CommandExecutionItem(
                id=event.call_id,
                command=shlex.join(event.command),
                cwd=event.cwd,
                status="inProgress",
            )
            self._started_tools[event.call_id] = event.cwd
            await self._started(item)
            return
        if isinstance(event, CommandFinished):
            item = CommandExecutionItem(
                id=event.call_id,
                command=shlex.join(event.command),
                cwd=self._started_tools.get(event.call_id, ""),
                status=event.status,
                aggregated_output=event.output,
                exit_code=event.exit_code,
            )
        else:
            changes = [FileUpdateChange(path=c.path, kind=c.kind) for c in event.changes]
            item = FileChangeItem(id=event.call_id, changes=changes, status=event.status)
        if event.call_id not in self._started_tools:  # declined or refused before it started
            await self._started(item)
        self._started_tools.pop(event.call_id, None)
        self.items.append(item)
        await self._completed(item)

    async def output(self, event: CommandOutput) -> None:
        """``item/commandExecution/outputDelta``: the running command's new lines."""
        if event.call_id not in self._started_tools or not event.text:
            return  # output of no command this turn announced
        await self._emit(
            NotificationMethod.COMMAND_OUTPUT_DELTA,
            CommandExecutionOutputDeltaNotification(
                thread_id=self.thread_id,
                turn_id=self.id,
                item_id=event.call_id,
                delta=event.text + "\n",
            ),
        )

    async def message_delta(self, text: str) -> None:
        """The next piece of the assistant message (started with its first piece)."""
        if not text:
            return
        message = self._message
        if message is None:
            message = self._message = _OpenMessage(new_id("item"))
            await self._started(AgentMessageItem(id=message.id, text=""))
        message.pieces.append(text)
        await self._emit(
            NotificationMethod.AGENT_MESSAGE_DELTA,
            AgentMessageDeltaNotification(
                thread_id=self.thread_id, turn_id=self.id, item_id=message.id, delta=text
            ),
        )

    async def complete_message(self, text: str | None = None) -> None:
        """Complete the open message with ``text`` (None: with what was streamed)."""
        if self._message is None:
            if not text:
                return
            await self.message_delta(text)  # the agent did not stream this one
        message = self._message
        assert message is not None
        self._message = None
        done = AgentMessageItem(
            id=message.id, text="".join(message.pieces) if text is None else text
        )
        self.items.append(done)
        await self._completed(done)

    async def fail(self, message: str) -> None:
        """An ``error`` notification, then the end as ``failed``."""
        await self._emit(
            NotificationMethod.ERROR,
            ErrorNotification(
                thread_id=self.thread_id, turn_id=self.id, error=TurnError(message=message)
            ),
        )
        await self.end("failed", message)

    async def end(self, status: TurnStatus, error: str | None = None) -> None:
        """Complete the open message, then ``turn/completed``; sets :attr:`ended`."""
        await self.complete_message()
        await self._emit(
            NotificationMethod.TURN_COMPLETED,
            TurnCompletedNotification(thread_id=self.thread_id, turn=self.snapshot(status, error)),
        )
        self.ended.set()

    async def _started(self, item: ThreadItem) -> None:
        await self._emit(
            NotificationMethod.ITEM_STARTED,
            ItemStartedNotification(thread_id=self.thread_id, turn_id=self.id, item=item),
        )

    async def _completed(self, item: ThreadItem) -> None:
        await self._emit(
            NotificationMethod.ITEM_COMPLETED,
            ItemCompletedNotification(thread_id=self.thread_id, turn_id=self.id, item=item),
        )

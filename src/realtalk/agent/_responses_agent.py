"""The built-in background agent: a Responses API tool loop over :class:`ModelClient`.

Behaviour:

* **Thread.** The agent keeps one list of items for its whole life. A task (turn)
  appends the user text (at ``submit``), sends the thread, executes the function
  calls the model makes (``shell``, ``read_file``, ``apply_patch``; commands run
  in the sandbox, see ``_tools``), appends their outputs and asks
  again, until a response has no function calls. Each turn uses a fresh model
  client session.
* **Events.** The text of a response's first assistant message streams as
  :class:`AssistantDelta` pieces while ``response.output_text.delta`` events arrive
  (a retried request does not repeat pieces already sent; see ``_text_deltas``).
  Each assistant message of a completed response then becomes one
  :class:`AssistantMessage` (after ``response.completed``, so a retried request
  never produces duplicates); the end of a turn is :class:`TaskComplete`; a failure
  is :class:`TaskFailed` with a short message. The event queue holds
  ``events_maxsize`` events; when it is full the turn waits (back-pressure).
* **Approvals.** A tool call that needs the user's answer awaits the approver
  (or :meth:`ResponsesAgent.answer_approval`); :class:`ApprovalRequested` and
  :class:`ApprovalResolved` frame the wait. ``cancel`` fails the turn.
* **Interrupt.** :meth:`ResponsesAgent.interrupt` cancels the running turn: its
  in-flight request (the partial response is dropped) or tool (its process group
  is killed). The thread keeps the user input, every completed response, and the
  outputs of finished tool calls; a call that never finished gets
  :data:`ABORTED_OUTPUT`, so the next request is valid. The turn ends with
  ``TaskFailed(INTERRUPTED_MESSAGE)`` and the agent takes the next task.
* **Failures.** A tool that raises (it should not) gives the model an
  ``error: <Type>: <message>`` output. A turn that fails in any other way answers
  its open calls with :data:`FAILED_OUTPUT`, so the thread stays valid too.
* **Steering.** ``submit`` while busy steers the running turn (see ``_agent_thread``);
  a turn that was about to end makes one more request for it.
* **Ordering.** A new turn starts only after the previous one has emitted its final
  event, so events of two turns never interleave.
* **Ownership.** The agent owns ``client``: :meth:`aclose` cancels the running turn
  and closes the client, even when the ``aclose`` call itself is cancelled (the
  cancellation still reaches the caller; calling ``aclose`` again waits for the rest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Final

from realtalk._errors import AgentError, ConfigError, RealtalkError
from realtalk.agent._agent_thread import (
    ABORTED_OUTPUT,
    FAILED_OUTPUT,
    STOPPED_OUTPUT,
    AgentThread,
)
from realtalk.agent._approval import ApprovalDecision, Approver
from realtalk.agent._approval_desk import ApprovalDesk
from realtalk.agent._bwrap import SandboxStatus
from realtalk.agent._interface import (
    AGENT_EVENT_TYPES,
    INTERRUPTED_MESSAGE,
    AgentEvent,
    AssistantMessage,
    TaskComplete,
    TaskFailed,
)
from realtalk.agent._model_client import ModelClient
from realtalk.agent._model_session import ModelClientSession, Prompt
from realtalk.agent._shell import SafetyOptions
from realtalk.agent._text_deltas import stream_response
from realtalk.agent._tools import ApprovalCancelledError, ToolRunner
from realtalk.protocol.responses import (
    FunctionCall,
    Item,
    as_function_call,
    function_call_output,
    history_item,
    message_text,
)

__all__ = ["ABORTED_OUTPUT", "FAILED_OUTPUT", "STOPPED_OUTPUT", "ResponsesAgent"]

logger = logging.getLogger(__name__)

_END: Final = object()
_MAX_FAILURE_CHARS: Final = 200
_INTERRUPT_TIMEOUT_S: Final = 10.0
"""Longest wait in :meth:`ResponsesAgent.interrupt` for the turn to stop (a tool's
process group is killed at once; reaping it is bounded by the tool runner)."""


class _Turn:
    """One task's bookkeeping, shared by its task and :meth:`ResponsesAgent.interrupt`."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.running = False
        """True once the turn may have sent a request (it then must be cancelled)."""
        self.interrupted = False
        self.settled = asyncio.Event()
        """Set when the turn decided its end (the thread is final, the agent idle)."""


class ResponsesAgent:
    """Background agent that thinks through the Responses API and runs tools."""

    def __init__(
        self,
        client: ModelClient,
        *,
        workspace: Path,
        model: str,
        instructions: str,
        enable_shell: bool = True,
        shell_timeout_s: float = 60.0,
        output_cap_bytes: int = 16 * 1024,
        max_requests_per_turn: int = 32,
        max_pending: int = 16,
        events_maxsize: int = 64,
        safety: SafetyOptions | None = None,
        approver: Approver | None = None,
        history: Sequence[Item] = (),
        task_timeout_s: float | None = None,
    ) -> None:
        """Configure the agent; nothing runs until :meth:`submit`.

        Args:
            client: The model client (owned by the agent from now on).
            workspace: Directory for ``shell`` and the root ``read_file`` is confined to.
            model: Model slug sent with every request.
            instructions: System instructions sent with every request.
            enable_shell: False: ``shell`` is not advertised and calls to it fail.
            shell_timeout_s: Longest run of one command (the model may ask for less).
            output_cap_bytes: Most bytes of tool output given back to the model.
            max_requests_per_turn: Model requests one turn may make before it fails.
            max_pending: Most steering texts waiting for the next request.
            events_maxsize: Capacity of the event queue.
            safety: Sandbox, approval and environment settings (default: workspace-write,
                on-request, no secrets in commands).
            approver: Answers approval questions. None: questions are asked through the
                event stream (:class:`ApprovalRequested`) and answered with
                :meth:`answer_approval`; unanswered ones are declined after
                ``safety.approval_timeout_s``.
            history: Items of an earlier thread to continue (a resumed app-server
                thread); the first request sends them before the new input. A call
                without an output gets :data:`STOPPED_OUTPUT`.
            task_timeout_s: Longest run of one task (None: no limit); on expiry the
                running request or command is stopped (its processes killed) and the
                task fails saying so. The agent's own limit (``[agent] timeout_s``):
                the conversation's idle limit never cuts a task short.

        Raises:
            ConfigError: A value is out of range, the workspace is not a directory or
                the sandbox policy cannot be applied to it.
        """
        if not workspace.is_dir():
            raise ConfigError(f"agent workspace {str(workspace)!r} is not a directory")
        if max_requests_per_turn <= 0 or max_pending <= 0 or events_maxsize <= 0:
            raise ConfigError("max_requests_per_turn, max_pending, events_maxsize must be positive")
        if task_timeout_s is not None and not task_timeout_s > 0:
            raise ConfigError(f"task_timeout_s must be positive, got {task_timeout_s}")
        self._task_timeout_s = task_timeout_s
        self._client = client
        self._model = model
        self._instructions = instructions
        safety = safety or SafetyOptions()
        self._desk = ApprovalDesk(approver, self._emit, timeout_s=safety.approval_timeout_s)
        self._tools = ToolRunner(
            workspace=workspace,
            enable_shell=enable_shell,
            shell_timeout_s=shell_timeout_s,
            output_cap_bytes=output_cap_bytes,
            safety=safety,
            ask=self._desk.ask,
            emit=self._emit,
        )
        self._max_requests = max_requests_per_turn
        self._thread = AgentThread(history, max_pending=max_pending)
        self._events: asyncio.Queue[AgentEvent | object] = asyncio.Queue(maxsize=events_maxsize)
        self._turns: set[asyncio.Task[None]] = set()
        self._last_turn: asyncio.Task[None] | None = None
        self._current: _Turn | None = None
        self._busy = False
        self._closing = False
        self._ended = False

    @property
    def busy(self) -> bool:
        """True from ``submit`` until the turn's final event is decided."""
        return self._busy

    @property
    def history(self) -> list[Item]:
        """A copy of the thread's items."""
        return self._thread.items

    @property
    def safety(self) -> SafetyOptions:
        return self._tools.safety

    async def start(self) -> None:
        """Warm the model connection (call at session start; never raises)."""
        await self._client.pre_establish_connection()

    async def sandbox_status(self) -> SandboxStatus:
        """Whether this agent's commands can be sandboxed (for the startup warning)."""
        return await self._tools.sandbox.status()

    def answer_approval(self, request_id: str, decision: ApprovalDecision) -> bool:
        """Answer a pending :class:`ApprovalRequested`; False when it is not pending."""
        return self._desk.answer(request_id, decision)

    @property
    def pending_approvals(self) -> list[str]:
        """Ids of questions waiting for :meth:`answer_approval`."""
        return self._desk.pending

    async def submit(self, text: str) -> None:
        """Start a turn with ``text`` if idle, else steer the running turn with it.

        Raises:
            AgentError: The agent is closed.
        """
        if self._closing:
            raise AgentError("the background agent is closed; start a new conversation")
        if self._busy:
            self._thread.steer(text)
            logger.info("background agent busy; text will steer the running turn")
            return
        self._busy = True
        # The previous turn appends nothing once it is no longer busy, so the input
        # can join the thread now (an interrupt before the turn runs keeps it).
        self._thread.add_user_text(text)
        turn = _Turn()
        task = asyncio.create_task(
            self._run_turn(turn, self._last_turn), name="realtalk-responses-agent-turn"
        )
        turn.task = task
        self._current = turn
        self._last_turn = task
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)
        task.add_done_callback(lambda _: turn.settled.set())

    async def interrupt(self) -> bool:
        """Stop the running turn and keep the thread; False when no turn was running.

        Cancels the in-flight request or tool, keeps the completed part of the turn
        in the thread (see the module docs) and ends the turn with
        ``TaskFailed(INTERRUPTED_MESSAGE)``. Returns once the agent is idle (at most
        about ten seconds), before the event is necessarily read.
        """
        turn = self._current
        if self._closing or not self._busy or turn is None:
            return False
        if not turn.interrupted:
            turn.interrupted = True
            if not turn.running:
                # Nothing was sent yet: the thread already holds the input.
                self._finish(turn)
                return True
            assert turn.task is not None
            turn.task.cancel()
        try:
            async with asyncio.timeout(_INTERRUPT_TIMEOUT_S):
                await turn.settled.wait()
        except TimeoutError:
            logger.warning("background agent turn did not stop in time after an interrupt")
        return True

    async def events(self) -> AsyncIterator[AgentEvent]:
        """The agent's events (single consumer); ends after :meth:`aclose`."""
        while True:
            if self._closing and self._events.empty():
                return
            item = await self._events.get()
            if item is _END:
                return
            assert isinstance(item, AGENT_EVENT_TYPES)
            yield item

    async def aclose(self) -> None:
        """Cancel the running turn, close the model client, end :meth:`events`. Idempotent.

        The client is closed even if this call is cancelled while the turn stops;
        the cancellation is then re-raised, and a later call waits for what is left.
        """
        if not self._closing:
            self._closing = True
            self._thread.drop_steers()
            stopping = self._current.task if self._current and self._current.interrupted else None
            for task in list(self._turns):
                if task is not stopping:  # an interrupted turn was cancelled already
                    task.cancel()  # once: a second cancel would cut a tool's cleanup short
        try:
            if self._turns:
                await asyncio.wait(set(self._turns))
            await self._tools.sandbox.aclose()
        finally:
            self._busy = False
            try:
                await self._client.aclose()
            finally:
                if not self._ended:
                    self._ended = True
                    with contextlib.suppress(asyncio.QueueFull):
                        self._events.put_nowait(_END)

    # -- the turn --------------------------------------------------------------------

    async def _run_turn(self, turn: _Turn, previous: asyncio.Task[None] | None) -> None:
        reason: str | None = None
        limit: asyncio.Timeout | None = None
        try:
            if previous is not None and not previous.done():
                await asyncio.wait({previous})  # the turns' events never interleave
            if not turn.interrupted:
                turn.running = True
                async with (
                    asyncio.timeout(self._task_timeout_s) as limit,
                    self._client.new_session() as session,
                ):
                    await self._loop(session, turn)
        except TimeoutError as exc:
            if limit is None or not limit.expired():
                logger.exception("background agent turn crashed")
                reason = _short(f"internal error ({type(exc).__name__})")
            else:
                reason = (
                    f"the task took longer than its limit of {self._task_timeout_s:g} s "
                    "([agent] timeout_s) and was stopped"
                )
            self._thread.answer_open_calls(FAILED_OUTPUT)
        except asyncio.CancelledError:
            if not turn.interrupted or self._closing:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the interrupt is handled here; the task ends normally
            self._thread.answer_open_calls(ABORTED_OUTPUT)
        except RealtalkError as exc:
            reason = _short(str(exc))
            self._thread.answer_open_calls(FAILED_OUTPUT)
        except Exception as exc:
            logger.exception("background agent turn crashed")
            reason = _short(f"internal error ({type(exc).__name__})")
            self._thread.answer_open_calls(FAILED_OUTPUT)
        if not turn.settled.is_set():
            self._finish(turn)
        if turn.interrupted:
            logger.info("background agent turn interrupted")
            await self._emit(TaskFailed(INTERRUPTED_MESSAGE))
        elif reason is not None:
            logger.warning("background agent turn failed", extra={"reason": reason})
            await self._emit(TaskFailed(f"The background agent failed: {reason}"))
        else:
            await self._emit(TaskComplete())

    async def _loop(self, session: ModelClientSession, turn: _Turn) -> None:
        for _ in range(self._max_requests):
            self._thread.take_steers()
            prompt = Prompt(
                model=self._model,
                instructions=self._instructions,
                input=self._thread.items,
                tools=self._tools.specs(),
            )
            items = await stream_response(session, prompt, self._emit)
            # The whole response joins the thread before anything is awaited, so an
            # interrupt never leaves half of it behind.
            replies: list[str] = []
            calls: list[FunctionCall] = []
            for item in items:
                self._thread.append(history_item(item))
                reply = message_text(item, role="assistant")
                if reply:
                    replies.append(reply)
                call = as_function_call(item)
                if call is not None:
                    calls.append(call)
            for reply in replies:
                await self._emit(AssistantMessage(reply))
            for call in calls:
                logger.info("background agent runs a tool", extra={"tool": call.name})
                output = await self._run_tool(call)
                self._thread.append(function_call_output(call.call_id, output))
            if not calls and not self._thread.steering:
                # Decided with no await since the check, so a later submit starts a new turn.
                self._finish(turn)
                return
        raise AgentError(f"the task needed more than {self._max_requests} model requests")

    async def _run_tool(self, call: FunctionCall) -> str:
        """The tool's output; an exception (tools should never raise) becomes the output."""
        try:
            return await self._tools.run(call)
        except ApprovalCancelledError:
            raise
        except Exception as exc:
            logger.exception("background agent tool raised", extra={"tool": call.name})
            return f"error: {type(exc).__name__}: {exc}"

    def _finish(self, turn: _Turn) -> None:
        """Mark the agent idle; texts that arrived too late stay in the thread."""
        self._thread.take_steers()
        self._busy = False
        turn.settled.set()

    async def _emit(self, event: AgentEvent) -> None:
        await self._events.put(event)  # waits while full: back-pressure on the reader


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_FAILURE_CHARS else text[: _MAX_FAILURE_CHARS - 1] + "…"

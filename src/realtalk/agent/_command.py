"""A background agent that runs a configured command per task (no shell).

Typical use: another coding agent's non-interactive CLI, e.g.
``CommandAgent(["my-agent", "exec"], input_mode="arg")``.

Behaviour:

* **Input.** The task text is appended as the last argument (``input_mode="arg"``)
  or written to the command's stdin, which is then closed (``"stdin"``; use it for
  long inputs, a single argument is limited to 128 KiB on Linux).
* **Output.** stdout is split into assistant messages: a blank (or whitespace-only)
  line ends the current message, and so does the end of output. Empty messages are
  never emitted. Beyond ``output_cap_bytes`` the rest of stdout is read and thrown
  away, and the message being built ends with :data:`OUTPUT_TRUNCATED_MARKER`.
  stderr is only kept (its last line) for the failure message.
* **Outcome.** Exit status 0 is success; a non-zero status, a spawn failure or a
  timeout is a failure with a short, speakable message. Nothing here raises into
  the conversation.
* **Steering.** ``submit`` while a task runs queues the text as the next run. At
  most ``max_queued`` texts wait; when full, a new text is appended to the last
  waiting one (separated by a blank line), so no request is lost and the queue
  stays bounded. One :class:`TaskComplete` / :class:`TaskFailed` is emitted when
  the agent becomes idle (after the last queued run); it reflects the last run. A
  failed run with more runs queued is reported as an :class:`AssistantMessage`.
* **Events.** The event queue holds ``events_maxsize`` events; when it is full the
  runner waits (back-pressure on the reader; the command's stdout pipe then fills
  and the command blocks). The task timeout keeps running meanwhile.
* **Timeout.** Per run; on expiry, and on :meth:`CommandAgent.aclose`, the command's
  whole process group gets SIGTERM, then SIGKILL after ``kill_grace`` seconds.
* **Interrupt.** :meth:`CommandAgent.interrupt` drops the queued texts and stops the
  running command the same way (its process group: SIGTERM, then SIGKILL); the task
  ends with ``TaskFailed(INTERRUPTED_MESSAGE)`` and the agent takes the next one.
* **Background children.** Once the command exits, its output pipes get half a
  second (:data:`~realtalk.agent._process.EXIT_GRACE_S`) to reach EOF; then, and in
  any case when the run ends, what is left of its process group is killed. The
  run's outcome is the command's own exit status.

One run (the process, its pipes, stopping it) is ``_command_run.py``'s; this module
keeps the tasks: the queue, steering, interrupts and the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Final, Literal

from realtalk._errors import AgentError, ConfigError
from realtalk.agent._command_run import OUTPUT_TRUNCATED_MARKER, CommandRun, RunFailed
from realtalk.agent._interface import (
    INTERRUPTED_MESSAGE,
    AgentEvent,
    AssistantMessage,
    TaskComplete,
    TaskFailed,
)

__all__ = ["OUTPUT_TRUNCATED_MARKER", "CommandAgent"]

logger = logging.getLogger(__name__)

_END: Final = object()


class CommandAgent:
    """Runs ``argv`` once per task and reports its stdout as assistant messages."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        input_mode: Literal["arg", "stdin"] = "arg",
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 1800.0,
        output_cap_bytes: int = 1_000_000,
        max_queued: int = 8,
        events_maxsize: int = 64,
        kill_grace: float = 3.0,
    ) -> None:
        """Configure the agent (nothing runs until :meth:`submit`).

        Args:
            argv: The command and its fixed arguments (run without a shell).
            input_mode: ``"arg"``: the text is the last argument; ``"stdin"``: it is
                written to stdin.
            cwd: Working directory of the command (default: ours).
            env: Extra environment variables, added to the inherited environment.
            timeout: Seconds one run may take before it is killed.
            output_cap_bytes: Most stdout bytes turned into messages per run.
            max_queued: Most texts waiting while a run is in progress.
            events_maxsize: Capacity of the event queue.
            kill_grace: Seconds between SIGTERM and SIGKILL when stopping a run.

        Raises:
            ConfigError: A value is out of range.
        """
        if not argv or not argv[0]:
            raise ConfigError("background agent command is empty: configure the program to run")
        if input_mode not in ("arg", "stdin"):
            raise ConfigError(
                f"background agent input_mode must be 'arg' or 'stdin', not {input_mode!r}"
            )
        for name, value in (
            ("timeout", timeout),
            ("output_cap_bytes", output_cap_bytes),
            ("max_queued", max_queued),
            ("events_maxsize", events_maxsize),
            ("kill_grace", kill_grace),
        ):
            if value <= 0:
                raise ConfigError(f"background agent {name} must be positive, got {value}")
        self._run_once = CommandRun(
            tuple(argv),
            input_mode=input_mode,
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            timeout=timeout,
            output_cap=output_cap_bytes,
            kill_grace=kill_grace,
            emit=self._emit,
        )
        self._max_queued = max_queued
        self._events: asyncio.Queue[AgentEvent | object] = asyncio.Queue(maxsize=events_maxsize)
        self._pending: deque[str] = deque()
        self._runner: asyncio.Task[None] | None = None
        self._interrupted = False
        self._closing = False
        self._ended = False

    @property
    def busy(self) -> bool:
        """True while a run is in progress or queued."""
        return self._runner is not None and not self._runner.done()

    async def submit(self, text: str) -> None:
        """Start a run with ``text`` if idle, else queue it as the next run.

        Raises:
            AgentError: The agent is closed.
        """
        if self._closing:
            raise AgentError("the background agent is closed; start a new conversation")
        if self.busy:
            if len(self._pending) >= self._max_queued:
                # Overflow: merge into the last waiting text, so nothing is lost.
                self._pending[-1] = f"{self._pending[-1]}\n\n{text}"
                logger.info("background agent queue full; request merged into the last one")
            else:
                self._pending.append(text)
                logger.info(
                    "background agent busy; request queued as the next task",
                    extra={"queued": len(self._pending)},
                )
            return
        self._pending.append(text)
        self._runner = asyncio.create_task(self._run_pending(), name="realtalk-command-agent")

    async def interrupt(self) -> bool:
        """Stop the running task (its command's whole process group) and drop the
        queued texts; False when none was running.

        The task ends with ``TaskFailed(INTERRUPTED_MESSAGE)``. Returns once the
        command is reaped (bounded by ``kill_grace`` and a SIGKILL reap).
        """
        runner = self._runner
        if self._closing or runner is None or runner.done():
            return False
        self._pending.clear()
        if not self._interrupted:
            self._interrupted = True
            runner.cancel()
        await asyncio.wait({runner})
        return True

    async def events(self) -> AsyncIterator[AgentEvent]:
        """The agent's events (single consumer); ends after :meth:`aclose`."""
        while True:
            if self._closing and self._events.empty():
                return
            item = await self._events.get()
            if item is _END:
                return
            assert isinstance(item, AssistantMessage | TaskComplete | TaskFailed)
            yield item

    async def aclose(self) -> None:
        """Stop the running command, drop queued texts and end :meth:`events`. Idempotent.

        Cancelling this call cancels only the wait: the command is still stopped in
        the background, and a later call waits for that.
        """
        runner = self._runner
        if not self._closing:
            self._closing = True
            self._pending.clear()
            if runner is not None:
                runner.cancel()  # once: a second cancel would cut the cleanup short
        if runner is not None and not runner.done():
            # The runner's cleanup is bounded (kill_grace + a SIGKILL reap). asyncio.wait
            # (not `await runner`) so a cancellation of this call is not mistaken for
            # the runner's and reaches the caller.
            await asyncio.wait({runner})
        if not self._ended:
            self._ended = True
            with contextlib.suppress(asyncio.QueueFull):
                # If the queue is full the reader drains it and then sees `_closing`.
                self._events.put_nowait(_END)

    # -- running --

    async def _run_pending(self) -> None:
        try:
            await self._run_queue()
        except asyncio.CancelledError:
            if not self._interrupted or self._closing:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # the interrupt is handled here: the task ends normally
            logger.info("background agent command interrupted")
            await self._emit(TaskFailed(INTERRUPTED_MESSAGE))
        finally:
            self._interrupted = False

    async def _run_queue(self) -> None:
        # A text submitted while the terminal event is being emitted (the runner is
        # still "busy") is picked up by the outer loop, so nothing is stranded.
        while self._pending:
            failure: str | None = None
            while self._pending:
                text = self._pending.popleft()
                try:
                    await self._run_once(text)
                    failure = None
                except RunFailed as exc:
                    failure = str(exc)
                except Exception:
                    logger.exception("background agent command crashed")
                    failure = "the command failed unexpectedly"
                if failure is not None:
                    logger.warning("background agent command failed", extra={"reason": failure})
                    if self._pending:
                        await self._emit(
                            AssistantMessage(f"The previous step failed: {failure}. Continuing.")
                        )
            await self._emit(TaskComplete() if failure is None else TaskFailed(failure))

    async def _emit(self, event: AgentEvent) -> None:
        await self._events.put(event)  # blocks while full: back-pressure on the reader

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
* **Background children.** Once the command exits, its output pipes get half a
  second (:data:`~realtalk.agent._process.EXIT_GRACE_S`) to reach EOF; then, and in
  any case when the run ends, what is left of its process group is killed. The
  run's outcome is the command's own exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Final, Literal

from realtalk._errors import AgentError, ConfigError
from realtalk.agent._interface import AgentEvent, AssistantMessage, TaskComplete, TaskFailed
from realtalk.agent._process import EXIT_GRACE_S, wait_for_exit

__all__ = ["OUTPUT_TRUNCATED_MARKER", "CommandAgent"]

logger = logging.getLogger(__name__)

OUTPUT_TRUNCATED_MARKER: Final = "[output truncated]"
_CHUNK: Final = 64 * 1024
_STDERR_TAIL: Final = 4096
_MAX_DETAIL: Final = 200
_END: Final = object()


class _RunFailed(Exception):
    """One run failed; ``str(exc)`` is the short message."""


class _MessageSplitter:
    """Splits stdout bytes into messages (a blank line ends one), up to a byte cap."""

    def __init__(self, cap: int) -> None:
        self._budget = cap
        self._partial = b""
        self._lines: list[str] = []
        self.truncated = False

    def feed(self, chunk: bytes) -> list[str]:
        """Take the next stdout bytes; return the messages they completed."""
        if self.truncated:
            return []
        if len(chunk) > self._budget:
            chunk, self.truncated = chunk[: self._budget], True
        self._budget -= len(chunk)
        # Splitting bytes on b"\n" is UTF-8 safe: the byte never occurs inside a character.
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        done = [message for raw in complete if (message := self._line(raw)) is not None]
        if self.truncated:
            if (message := self._line(self._partial)) is not None:
                done.append(message)
            self._partial = b""
            self._lines.append(OUTPUT_TRUNCATED_MARKER)
        return done

    def finish(self) -> str | None:
        """End of output: return the last message, if any."""
        last = self._line(self._partial)
        self._partial = b""
        if last is None and self._lines:
            last, self._lines = "\n".join(self._lines), []
        return last

    def _line(self, raw: bytes) -> str | None:
        line = raw.decode(errors="replace").rstrip("\r")
        if line.strip():
            self._lines.append(line)
            return None
        if not self._lines:
            return None
        message, self._lines = "\n".join(self._lines), []
        return message


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
        self._argv = tuple(argv)
        self._input_mode = input_mode
        self._cwd = cwd
        self._env = None if env is None else {**os.environ, **env}
        self._timeout = timeout
        self._output_cap = output_cap_bytes
        self._max_queued = max_queued
        self._kill_grace = kill_grace
        self._events: asyncio.Queue[AgentEvent | object] = asyncio.Queue(maxsize=events_maxsize)
        self._pending: deque[str] = deque()
        self._runner: asyncio.Task[None] | None = None
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
        # A text submitted while the terminal event is being emitted (the runner is
        # still "busy") is picked up by the outer loop, so nothing is stranded.
        while self._pending:
            failure: str | None = None
            while self._pending:
                text = self._pending.popleft()
                try:
                    await self._run_once(text)
                    failure = None
                except _RunFailed as exc:
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

    async def _run_once(self, text: str) -> None:
        argv = [*self._argv, text] if self._input_mode == "arg" else list(self._argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE
                if self._input_mode == "stdin"
                else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._cwd,
                env=self._env,
                start_new_session=True,  # its own process group, so children are stopped too
            )
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise _RunFailed(
                f"the command {self._argv[0]!r} could not be started: {reason}"
            ) from exc
        logger.info(
            "background agent command started",
            extra={"program": self._argv[0], "pid": proc.pid, "input_mode": self._input_mode},
        )
        splitter = _MessageSplitter(self._output_cap)
        result: tuple[int, str] | None = None
        try:
            async with asyncio.timeout(self._timeout):
                result = await self._communicate(proc, text, splitter)
        except TimeoutError:
            pass  # reported below, once the command is stopped
        finally:
            await self._stop(proc, abnormal=result is None)
        if result is None:
            # The output so far ends where the command was stopped.
            if (rest := splitter.finish()) is not None:
                await self._emit(AssistantMessage(rest))
            raise _RunFailed(f"the command timed out after {self._timeout:g} seconds")
        status, stderr_tail = result
        logger.info("background agent command exited", extra={"pid": proc.pid, "status": status})
        if status == 0:
            return
        if status < 0:
            message = f"the command was stopped by signal {-status}"
        else:
            message = f"the command exited with status {status}"
        raise _RunFailed(f"{message}: {stderr_tail}" if stderr_tail else message)

    async def _communicate(
        self, proc: asyncio.subprocess.Process, text: str, splitter: _MessageSplitter
    ) -> tuple[int, str]:
        async with asyncio.TaskGroup() as group:
            stderr_task = group.create_task(self._stderr_tail(proc))
            pipes = {stderr_task, group.create_task(self._read_stdout(proc, splitter))}
            if proc.stdin is not None:
                pipes.add(group.create_task(self._feed(proc.stdin, text)))
            status = await wait_for_exit(proc)
            # Background children may still hold the pipes: a moment for their output,
            # then the group is killed so the pipes reach EOF. Output already read is
            # still emitted (the reader may be waiting on a full event queue).
            _, busy = await asyncio.wait(pipes, timeout=EXIT_GRACE_S)
            if busy:
                self._signal(proc, signal.SIGKILL)
        return status, stderr_task.result()

    async def _read_stdout(
        self, proc: asyncio.subprocess.Process, splitter: _MessageSplitter
    ) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(_CHUNK):
            # Past the cap the splitter returns nothing: we keep reading anyway so
            # the command never blocks on a full pipe.
            for message in splitter.feed(chunk):
                await self._emit(AssistantMessage(message))
        if (rest := splitter.finish()) is not None:
            await self._emit(AssistantMessage(rest))
        if splitter.truncated:
            logger.warning(
                "background agent output truncated", extra={"cap_bytes": self._output_cap}
            )

    @staticmethod
    async def _feed(stdin: asyncio.StreamWriter, text: str) -> None:
        try:
            stdin.write(text.encode())
            await stdin.drain()
            stdin.close()
            await stdin.wait_closed()
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("background agent command closed stdin before reading it all")

    @staticmethod
    async def _stderr_tail(proc: asyncio.subprocess.Process) -> str:
        assert proc.stderr is not None
        tail = b""
        while chunk := await proc.stderr.read(_CHUNK):
            tail = (tail + chunk)[-_STDERR_TAIL:]
        lines = [line.strip() for line in tail.decode(errors="replace").splitlines()]
        last = next((line for line in reversed(lines) if line), "")
        return last[:_MAX_DETAIL]

    async def _stop(self, proc: asyncio.subprocess.Process, *, abnormal: bool) -> None:
        """Make sure the command is reaped and its pipes are at EOF (bounded).

        After a timeout or a cancellation the whole process group gets SIGTERM, and
        the grace to exit (leader exited, pipes closed). Then whatever is left of the
        group gets SIGKILL, also after a normal exit: a background child must not
        outlive its run.
        """
        if abnormal:
            self._signal(proc, signal.SIGTERM)
            await self._reap(proc)
        self._signal(proc, signal.SIGKILL)
        if not await self._reap(proc):
            logger.warning("background agent command did not exit", extra={"pid": proc.pid})

    async def _reap(self, proc: asyncio.subprocess.Process) -> bool:
        try:
            async with asyncio.timeout(self._kill_grace):
                await proc.wait()
                # Read the pipes to EOF so their transports close (no leaked transport).
                for stream in (proc.stdout, proc.stderr):
                    while stream is not None and await stream.read(_CHUNK):
                        pass
        except TimeoutError:
            return False
        return True

    @staticmethod
    def _signal(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

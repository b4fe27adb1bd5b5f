"""One run of a :class:`~realtalk.agent.CommandAgent`'s command: start it, feed it the
task, turn its stdout into messages as they come, and stop it (its whole process group).

:class:`CommandRun` holds what every run shares (the command, input mode, limits and
the agent's event sink); calling it runs the command once and raises :class:`RunFailed`
with a short, speakable message when the run fails. The rules (messages split on blank
lines, the output cap, the timeout, the grace for background children, SIGTERM then
SIGKILL) are the agent's: see ``_command.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Literal

from realtalk.agent._interface import AgentEvent, AssistantMessage
from realtalk.agent._process import EXIT_GRACE_S, wait_for_exit

__all__ = ["OUTPUT_TRUNCATED_MARKER", "CommandRun", "MessageSplitter", "RunFailed"]

logger = logging.getLogger("realtalk.agent._command")  # the agent's, as before

OUTPUT_TRUNCATED_MARKER: Final = "[output truncated]"
_CHUNK: Final = 64 * 1024
_STDERR_TAIL: Final = 4096
_MAX_DETAIL: Final = 200


class RunFailed(Exception):
    """One run failed; ``str(exc)`` is the short message."""


class MessageSplitter:
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


class CommandRun:
    """Runs the agent's command once per call (see the module docs)."""

    def __init__(
        self,
        argv: tuple[str, ...],
        *,
        input_mode: Literal["arg", "stdin"],
        cwd: str | os.PathLike[str] | None,
        env: Mapping[str, str] | None,
        timeout: float,
        output_cap: int,
        kill_grace: float,
        emit: Callable[[AgentEvent], Awaitable[None]],
    ) -> None:
        self._argv = argv
        self._input_mode = input_mode
        self._cwd = cwd
        self._env = env
        self._timeout = timeout
        self._output_cap = output_cap
        self._kill_grace = kill_grace
        self._emit = emit

    async def __call__(self, text: str) -> None:
        """Run the command once for ``text``.

        Raises:
            RunFailed: It could not start, failed or timed out (the short message).
        """
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
            raise RunFailed(
                f"the command {self._argv[0]!r} could not be started: {reason}"
            ) from exc
        logger.info(
            "background agent command started",
            extra={"program": self._argv[0], "pid": proc.pid, "input_mode": self._input_mode},
        )
        splitter = MessageSplitter(self._output_cap)
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
            raise RunFailed(f"the command timed out after {self._timeout:g} seconds")
        status, stderr_tail = result
        logger.info("background agent command exited", extra={"pid": proc.pid, "status": status})
        if status == 0:
            return
        if status < 0:
            message = f"the command was stopped by signal {-status}"
        else:
            message = f"the command exited with status {status}"
        raise RunFailed(f"{message}: {stderr_tail}" if stderr_tail else message)

    async def _communicate(
        self, proc: asyncio.subprocess.Process, text: str, splitter: MessageSplitter
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
        self, proc: asyncio.subprocess.Process, splitter: MessageSplitter
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

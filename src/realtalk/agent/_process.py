"""Running one command: argv (no shell), capped merged output, timeout, group kill.

``run_process`` starts ``argv`` with stdin closed, stdout and stderr merged, in a
new session (its own process group), and returns its exit code, wall time and at
most ``cap`` bytes of output (the rest is read and dropped so the child never
blocks). Once the command itself exits, background children get
:data:`EXIT_GRACE_S` to finish writing; then the process group is killed, so a
child that keeps the output pipe open never stretches the call to its timeout.
On timeout the whole group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["EXIT_GRACE_S", "ProcessResult", "os_reason", "run_process", "wait_for_exit"]

_CHUNK: Final = 64 * 1024
_REAP_TIMEOUT_S: Final = 5.0
_EXIT_POLL_S: Final = 0.02

EXIT_GRACE_S: Final = 0.5
"""How long output may still arrive after a command exited (from its background
children); then the command's process group is killed and reading stops."""


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """What one command did. ``exit_code`` is None when it could not start or timed out."""

    exit_code: int | None
    output: str
    wall_s: float
    timed_out: bool = False
    start_error: str | None = None

    def describe(self, timeout_s: float) -> str:
        """The text given back to the model."""
        if self.start_error is not None:
            return self.start_error
        head = (
            f"Command timed out after {timeout_s:g} seconds."
            if self.timed_out
            else f"Exit code: {self.exit_code}"
        )
        return f"{head}\nWall time: {self.wall_s:.2f} seconds\nOutput:\n{self.output}"


async def run_process(
    argv: list[str],
    *,
    cwd: Path,
    timeout_s: float,
    cap: int,
    env: Mapping[str, str] | None = None,
    on_output: Callable[[bytes], None] | None = None,
) -> ProcessResult:
    """Run ``argv`` without a shell (see the module docs).

    ``on_output`` sees every chunk of output as it is read (past the cap too); it must
    not block.
    """
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        return ProcessResult(
            None, "", 0.0, start_error=f"error: could not start {argv[0]!r}: {os_reason(exc)}"
        )
    kept = bytearray()
    total = 0

    async def pump() -> None:
        nonlocal total
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(_CHUNK):
            total += len(chunk)
            if on_output is not None:
                on_output(chunk)
            room = cap - len(kept)
            if room > 0:
                kept.extend(chunk[:room])

    reader = asyncio.create_task(pump(), name="realtalk-shell-output")
    timed_out = False
    try:
        async with asyncio.timeout(timeout_s):
            await wait_for_exit(proc)
            # Background children may still hold the pipe: a moment for their output.
            await asyncio.wait({reader}, timeout=EXIT_GRACE_S)
    except TimeoutError:
        timed_out = proc.returncode is None  # expiry during the grace is not a timeout
    finally:
        await _kill_and_reap(proc, reader)
    text = kept.decode("utf-8", errors="replace")
    if total > cap:
        text += f"\n[output truncated: {total - cap} more bytes]"
    wall = time.monotonic() - started
    return ProcessResult(None if timed_out else proc.returncode, text, wall, timed_out=timed_out)


async def wait_for_exit(proc: asyncio.subprocess.Process) -> int:
    """The exit status of ``proc`` as soon as it exits.

    ``Process.wait()`` (Python 3.11) also waits until every pipe is closed, which a
    background child holding stdout delays until the child ends; the status is
    visible in ``returncode`` at once, so it is polled as well.
    """
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while (status := proc.returncode) is None:
            await asyncio.wait({waiter}, timeout=_EXIT_POLL_S)
    finally:
        waiter.cancel()
    return status


async def _kill_and_reap(proc: asyncio.subprocess.Process, reader: asyncio.Task[None]) -> None:
    """Kill what is left of the process group, read the pipe to EOF and reap (bounded)."""
    # Always: a command that exited may have left children behind in its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        async with asyncio.timeout(_REAP_TIMEOUT_S):
            await asyncio.wait({reader})  # EOF once no process holds the pipe
            await asyncio.shield(proc.wait())
    except TimeoutError:
        pass
    finally:
        reader.cancel()


def os_reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)

"""The built-in agent's tools: ``shell`` (argv, in the workspace) and ``read_file``.

* ``shell`` runs ``command`` as an argv list (never through a shell, so nothing in
  the text is interpreted) with ``cwd`` = the workspace, stdin closed, stdout and
  stderr merged, a timeout (the whole process group is killed on expiry) and an
  output cap (the rest is read and dropped so the child never blocks). Once the
  command itself exits, background children get :data:`EXIT_GRACE_S` to finish
  writing; then the process group is killed, so a child that keeps the output
  pipe open never stretches the call to its timeout. A switch disables the tool:
  it is then not advertised, and a call gets an error output.
* ``read_file`` reads a regular file inside the workspace (symlinks resolved
  first, so a link cannot lead outside), up to the output cap. FIFOs, devices and
  sockets are refused without being opened for blocking reads.

Tools never raise: every problem becomes the text returned to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import time
from pathlib import Path
from typing import Any, Final

import msgspec

from realtalk._errors import ConfigError
from realtalk.protocol.responses import FunctionCall

__all__ = [
    "EXIT_GRACE_S",
    "READ_FILE_TOOL",
    "SHELL_DISABLED_OUTPUT",
    "SHELL_TOOL",
    "ToolRunner",
    "read_workspace_file",
    "run_argv",
    "wait_for_exit",
]

SHELL_TOOL: Final = "shell"
READ_FILE_TOOL: Final = "read_file"
SHELL_DISABLED_OUTPUT: Final = "error: the shell tool is disabled in this configuration"

_SHELL_SPEC: Final[dict[str, Any]] = {
    "type": "function",
    "name": SHELL_TOOL,
    "description": "Runs a shell command and returns its output.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "command": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The command to execute, as a list of arguments",
            },
            "timeout_ms": {
                "type": "number",
                "description": "The timeout for the command in milliseconds",
            },
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}

_READ_FILE_SPEC: Final[dict[str, Any]] = {
    "type": "function",
    "name": READ_FILE_TOOL,
    "description": "Reads a text file in the workspace and returns its contents.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "Path of the file, relative to the workspace",
            },
        },
        "required": ["path"],
        "additionalProperties": False,
    },
}

_CHUNK: Final = 64 * 1024
_REAP_TIMEOUT_S: Final = 5.0
_EXIT_POLL_S: Final = 0.02

EXIT_GRACE_S: Final = 0.5
"""How long output may still arrive after a command exited (from its background
children); then the command's process group is killed and reading stops."""


class ToolRunner:
    """Advertises the tools and runs one function call at a time."""

    def __init__(
        self,
        *,
        workspace: Path,
        enable_shell: bool,
        shell_timeout_s: float,
        output_cap_bytes: int,
    ) -> None:
        if shell_timeout_s <= 0 or output_cap_bytes <= 0:
            raise ConfigError("shell_timeout_s and output_cap_bytes must be positive")
        self._workspace = workspace
        self._enable_shell = enable_shell
        self._timeout_s = shell_timeout_s
        self._cap = output_cap_bytes

    def specs(self) -> list[dict[str, Any]]:
        """Tool definitions for the request (``shell`` only when enabled)."""
        return [_SHELL_SPEC, _READ_FILE_SPEC] if self._enable_shell else [_READ_FILE_SPEC]

    async def run(self, call: FunctionCall) -> str:
        """Run ``call`` and return the output text for ``function_call_output``."""
        try:
            args = msgspec.json.decode(call.arguments or "{}")
        except msgspec.DecodeError:
            return f"error: the arguments of {call.name} are not valid JSON"
        if not isinstance(args, dict):
            return f"error: the arguments of {call.name} must be a JSON object"
        if call.name == SHELL_TOOL:
            if not self._enable_shell:
                return SHELL_DISABLED_OUTPUT
            return await self._shell(args)
        if call.name == READ_FILE_TOOL:
            path = args.get("path")
            if not isinstance(path, str) or not path:
                return "error: read_file needs a non-empty string 'path'"
            return await read_workspace_file(path, workspace=self._workspace, cap=self._cap)
        return f"error: unknown tool {call.name!r}"

    async def _shell(self, args: dict[str, Any]) -> str:
        argv = args.get("command")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            return (
                "error: 'command' must be a non-empty array of strings (argv); "
                "shell strings are not run"
            )
        timeout_s = self._timeout_s
        timeout_ms = args.get("timeout_ms")
        if (
            isinstance(timeout_ms, int | float)
            and not isinstance(timeout_ms, bool)
            and timeout_ms > 0
        ):
            timeout_s = min(timeout_s, timeout_ms / 1000)
        return await run_argv(argv, cwd=self._workspace, timeout_s=timeout_s, cap=self._cap)


async def run_argv(argv: list[str], *, cwd: Path, timeout_s: float, cap: int) -> str:
    """Run ``argv`` without a shell; return exit code, wall time and capped output."""
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        return f"error: could not start {argv[0]!r}: {_reason(exc)}"
    kept = bytearray()
    total = 0

    async def pump() -> None:
        nonlocal total
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(_CHUNK):
            total += len(chunk)
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
    head = (
        f"Command timed out after {timeout_s:g} seconds."
        if timed_out
        else f"Exit code: {proc.returncode}"
    )
    return f"{head}\nWall time: {wall:.2f} seconds\nOutput:\n{text}"


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


async def read_workspace_file(path: str, *, workspace: Path, cap: int) -> str:
    """The text of ``path`` if it resolves inside ``workspace``, else an error text."""
    return await asyncio.to_thread(_read_confined, path, workspace, cap)


def _read_confined(path: str, workspace: Path, cap: int) -> str:
    try:
        root = workspace.resolve()
        target = (root / path).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, symlink loop
        return f"error: cannot read {path!r}: {_reason(exc)}"
    if not target.is_relative_to(root):
        return f"error: {path!r} is outside the workspace"
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (the thread would
        # block for good); for a regular file the flag changes nothing.
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:
        return f"error: cannot read {path!r}: {_reason(exc)}"
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            return f"error: {path!r} is a directory"
        if not stat.S_ISREG(mode):
            return f"error: {path!r} is not a regular file"
        data = b""
        while len(data) <= cap and (chunk := os.read(fd, cap + 1 - len(data))):
            data += chunk
    except OSError as exc:
        return f"error: cannot read {path!r}: {_reason(exc)}"
    finally:
        os.close(fd)
    text = data[:cap].decode("utf-8", errors="replace")
    if len(data) > cap:
        text += "\n[file truncated]"
    return text


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)

"""The ``read_file`` tool: a regular file inside the workspace, under the sandbox policy.

The path is resolved first (symlinks followed), so a link cannot lead outside the
workspace; ``/proc`` and friends are outside too. A file whose policy access is
``none`` (``[agent.sandbox] deny``) is refused. A file with more than one hard
link is refused: another link may live outside the workspace (a hard link made
to ``~/.ssh/id_ed25519`` would otherwise be read). FIFOs, devices and sockets are
refused without being opened for blocking reads. At most ``cap`` bytes are read.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from realtalk.agent._process import os_reason
from realtalk.agent._sandbox import Access, ResolvedPolicy

__all__ = ["read_workspace_file"]


async def read_workspace_file(
    path: str, *, workspace: Path, cap: int, policy: ResolvedPolicy | None = None
) -> str:
    """The text of ``path`` if it may be read, else an ``error: ...`` text."""
    return await asyncio.to_thread(_read_confined, path, workspace, cap, policy)


def _read_confined(path: str, workspace: Path, cap: int, policy: ResolvedPolicy | None) -> str:
    try:
        root = workspace.resolve()
        target = (root / path).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, symlink loop
        return f"error: cannot read {path!r}: {os_reason(exc)}"
    if not target.is_relative_to(root):
        return f"error: {path!r} is outside the workspace"
    if policy is not None and policy.access(target) is Access.NONE:
        return f"error: {path!r} is denied by the sandbox policy ([agent.sandbox] deny)"
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (the thread would
        # block for good); for a regular file the flag changes nothing.
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except (OSError, ValueError) as exc:
        return f"error: cannot read {path!r}: {os_reason(exc)}"
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return f"error: {path!r} is a directory"
        if not stat.S_ISREG(info.st_mode):
            return f"error: {path!r} is not a regular file"
        if info.st_nlink > 1:
            return (
                f"error: {path!r} has {info.st_nlink} hard links; read_file refuses hard-linked "
                "files because another link may be outside the workspace"
            )
        data = b""
        while len(data) <= cap and (chunk := os.read(fd, cap + 1 - len(data))):
            data += chunk
    except OSError as exc:
        return f"error: cannot read {path!r}: {os_reason(exc)}"
    finally:
        os.close(fd)
    text = data[:cap].decode("utf-8", errors="replace")
    if len(data) > cap:
        text += "\n[file truncated]"
    return text

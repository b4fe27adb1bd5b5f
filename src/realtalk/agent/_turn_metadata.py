"""The ``x-codex-turn-metadata`` header value: where the agent's workspace lives in git.

Shape: ``{"workspaces": {"<repo root>": {"associated_remote_urls": {"origin": "..."},
"latest_git_commit_hash": "..."}}}``. It is best effort within a small time budget
(250 ms by default): if ``cwd`` is not inside a git repository, git is missing, or
the budget runs out, there is no header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import msgspec

__all__ = ["DEFAULT_METADATA_BUDGET_S", "turn_metadata_header"]

logger = logging.getLogger(__name__)

DEFAULT_METADATA_BUDGET_S: Final = 0.25
_GIT_ENV: Final = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


async def turn_metadata_header(
    cwd: Path | None, *, budget_s: float = DEFAULT_METADATA_BUDGET_S
) -> str | None:
    """Build the header value for ``cwd``, or None (not a repo, no data, over budget)."""
    if cwd is None:
        return None
    try:
        async with asyncio.timeout(budget_s):
            return await _collect(cwd)
    except TimeoutError:
        logger.debug("turn metadata skipped: git took longer than the budget")
        return None


async def _collect(cwd: Path) -> str | None:
    root = await _git(cwd, "rev-parse", "--show-toplevel")
    if not root:
        return None
    origin, head = await asyncio.gather(
        _git(cwd, "remote", "get-url", "origin"), _git(cwd, "rev-parse", "HEAD")
    )
    workspace: dict[str, object] = {}
    if origin:
        workspace["associated_remote_urls"] = {"origin": _without_credentials(origin)}
    if head:
        workspace["latest_git_commit_hash"] = head
    if not workspace:
        return None
    value = msgspec.json.encode({"workspaces": {root: workspace}}).decode()
    # Header values must be visible ASCII (msgspec escapes control characters already).
    if not value.isascii() or not value.isprintable():
        return None
    return value


async def _git(cwd: Path, *args: str) -> str | None:
    """stdout of ``git -C cwd args`` stripped, or None on any failure."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(cwd),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, **_GIT_ENV},
        )
    except OSError:
        return None
    try:
        out, _ = await proc.communicate()
    except BaseException:
        # Over budget or cancelled: do not leave the child behind.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    if proc.returncode != 0:
        return None
    text = out.decode("utf-8", errors="replace").strip()
    return text or None


def _without_credentials(url: str) -> str:
    """Drop ``user:password@`` from a remote URL so tokens never leave the machine."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))

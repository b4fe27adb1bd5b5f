"""The startup context: the thread so far and where the person works, sent once per start.

Sections (reference 6.2), inside ``<startup_context>``:

* ``## Current Thread``: the thread's recent turns, oldest first, the newest labelled
  "Latest turn". Each turn is at most :data:`MAX_TURN_CHARS` (about 300 tokens;
  longer ones keep their head and tail), the section at most
  :data:`MAX_THREAD_CHARS`; when the turns do not fit, the oldest are left out and
  the section says how many.
* ``## Workspace``: the working directory and its tree (depth 2, 20 entries per
  directory, noisy directories skipped).

The whole context is at most :data:`MAX_STARTUP_CONTEXT_CHARS` (about 5,000 tokens);
the workspace tree is what gets cut when it is longer.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final, NamedTuple

__all__ = [
    "MAX_STARTUP_CONTEXT_CHARS",
    "MAX_THREAD_CHARS",
    "MAX_TURN_CHARS",
    "ThreadHistory",
    "ThreadTurn",
    "build_startup_context",
    "gather_startup_context",
    "render_current_thread",
]

logger = logging.getLogger(__name__)

MAX_STARTUP_CONTEXT_CHARS: Final = 20_000
MAX_THREAD_CHARS: Final = 9_000
"""The ``## Current Thread`` section's budget (about 2,200 tokens)."""
MAX_TURN_CHARS: Final = 1_200
"""One rendered turn's budget (about 300 tokens)."""
_NOISY = frozenset(
    {".git", "node_modules", "target", ".venv", "venv", "__pycache__", ".mypy_cache", "dist"}
)
_PER_DIR = 20
_CUT = "\n[...]\n"


class ThreadTurn(NamedTuple):
    """One turn of the thread: who said what, in order (``("User", "fix the test")``)."""

    lines: tuple[tuple[str, str], ...]


ThreadHistory = Callable[[], Awaitable[Sequence[ThreadTurn]]]
"""Gives the thread's recent turns, oldest first (called at each conversation start)."""


def _tree(root: Path, depth: int) -> list[str]:
    lines: list[str] = []

    def walk(path: Path, level: int) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return
        shown = [e for e in entries if e.name not in _NOISY and not e.name.startswith(".")]
        for entry in shown[:_PER_DIR]:
            is_dir = entry.is_dir(follow_symlinks=False)
            lines.append("  " * level + f"- {entry.name}{'/' if is_dir else ''}")
            if is_dir and level + 1 < depth:
                walk(Path(entry.path), level + 1)
        if len(shown) > _PER_DIR:
            lines.append("  " * level + f"- ... ({len(shown) - _PER_DIR} more)")

    walk(root, 0)
    return lines


def _head_tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = limit - len(_CUT)
    head = keep // 2
    return text[:head] + _CUT + text[len(text) - (keep - head) :]


def _render_turn(title: str, turn: ThreadTurn) -> str:
    body = "\n".join(f"{speaker}: {' '.join(text.split())}" for speaker, text in turn.lines)
    return f"### {title}\n{_head_tail(body, MAX_TURN_CHARS)}"


def render_current_thread(turns: Sequence[ThreadTurn], budget: int = MAX_THREAD_CHARS) -> str:
    """The ``## Current Thread`` section ("" without turns); at most ``budget`` characters."""
    turns = [t for t in turns if t.lines]
    if not turns:
        return ""
    header = (
        "## Current Thread\n"
        "This conversation continues an earlier one. Its recent turns, oldest first:"
    )
    blocks: list[str] = []
    used = len(header)
    for index in range(len(turns) - 1, -1, -1):  # newest first, until the budget is spent
        title = "Latest turn" if index == len(turns) - 1 else f"Turn {index + 1}"
        block = _render_turn(title, turns[index])
        if blocks and used + len(block) + 2 > budget - 60:  # room for the "omitted" note
            break
        blocks.append(block)
        used += len(block) + 2
    omitted = len(turns) - len(blocks)
    parts = [header]
    if omitted:
        parts.append(f"({omitted} earlier turn{'s' if omitted != 1 else ''} left out.)")
    parts.extend(reversed(blocks))
    return "\n\n".join(parts)[:budget]


def build_startup_context(workspace: Path | None = None, thread: Sequence[ThreadTurn] = ()) -> str:
    """The thread so far and the workspace, in at most ``MAX_STARTUP_CONTEXT_CHARS``.

    Never raises: any failure gives an empty context (reference 6.2).
    """
    try:
        root = (workspace or Path.cwd()).resolve()
        current = render_current_thread(thread)
        body = [
            "<startup_context>",
            "Startup context from realtalk. It is background information and may be stale.",
            "",
            *([current, ""] if current else []),
            "## Workspace",
            f"Working directory: {root}",
            *_tree(root, depth=2),
            "</startup_context>",
        ]
        text = "\n".join(body)
    except Exception:  # startup context is best effort by design
        logger.debug("startup context failed", exc_info=True)
        return ""
    if len(text) > MAX_STARTUP_CONTEXT_CHARS:
        marker = "\n... (truncated)\n</startup_context>"
        text = text[: MAX_STARTUP_CONTEXT_CHARS - len(marker)] + marker
    return text


async def gather_startup_context(workspace: Path | None, history: ThreadHistory | None) -> str:
    """:func:`build_startup_context` with the thread's turns from ``history``.

    A failing ``history`` leaves the section out (logged); the directory scan runs off
    the event loop, so a slow filesystem stalls no audio.
    """
    turns: Sequence[ThreadTurn] = ()
    if history is not None:
        try:
            turns = await history()
        except Exception:  # the context is best effort (reference 6.2)
            logger.warning("thread history unavailable for the startup context", exc_info=True)
    return await asyncio.to_thread(build_startup_context, workspace, turns)

"""A small startup context: where the person is working, sent once per start."""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["MAX_STARTUP_CONTEXT_CHARS", "build_startup_context"]

logger = logging.getLogger(__name__)

MAX_STARTUP_CONTEXT_CHARS = 20_000
_NOISY = frozenset(
    {".git", "node_modules", "target", ".venv", "venv", "__pycache__", ".mypy_cache", "dist"}
)
_PER_DIR = 20


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


def build_startup_context(workspace: Path | None = None) -> str:
    """Describe the workspace in at most ``MAX_STARTUP_CONTEXT_CHARS`` characters.

    Never raises: any failure gives an empty context (reference 6.2).
    """
    try:
        root = (workspace or Path.cwd()).resolve()
        body = [
            "<startup_context>",
            "Startup context from realtalk. It is background information and may be stale.",
            "",
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

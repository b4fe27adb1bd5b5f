"""Applying a parsed patch to disk: verify everything first, then write all or nothing.

1. **Plan.** Every path is made absolute (relative to the workspace) with its
   directories' symlinks resolved. Every Update and Delete target is read and
   every Update computed; a hunk that does not match fails here, before any
   write (``apply_patch verification failed: ...``).
2. **Policy.** :func:`plan_patch` reports the targets that the sandbox policy does
   not let us write (outside the writable roots, a protected ``.git`` /
   ``.realtalk``, a denied path); the caller asks or refuses.
3. **Write.** New contents are staged as temporary files next to their targets;
   then the targets that exist are renamed aside and the staged files renamed in;
   then the set-aside files are removed. A failure at any step puts every file
   back as it was (and removes directories the patch created), so the patch is
   applied to all files or to none. A file keeps its permission bits.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from realtalk.agent._patch import AddFile, DeleteFile, PatchError, UpdateFile, apply_chunks
from realtalk.agent._sandbox import Access, ResolvedPolicy

__all__ = ["FileChangeKind", "PatchPlan", "apply_plan", "plan_patch"]

FileChangeKind = str  # "add" | "update" | "delete"

_MAX_PATCH_FILE_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class PatchPlan:
    """What a patch will do: new contents (None: delete) per absolute path."""

    writes: dict[Path, str | None] = field(default_factory=dict)
    changes: list[tuple[str, FileChangeKind]] = field(default_factory=list)
    """(path as written in the patch, kind), in patch order, for reports."""
    modes: dict[Path, int] = field(default_factory=dict)

    def blocked(self, policy: ResolvedPolicy) -> list[Path]:
        """Targets the policy does not let us write."""
        return [p for p in self.writes if policy.access(p) is not Access.WRITE]

    def summary(self) -> str:
        letters = {"add": "A", "update": "M", "delete": "D"}
        lines = [f"{letters[kind]} {path}" for path, kind in self.changes]
        return "Success. Updated the following files:\n" + "\n".join(lines)


def _target(workspace: Path, raw: str) -> Path:
    if not raw:
        raise PatchError("a hunk has an empty path")
    if "\0" in raw:
        raise PatchError(f"the path {raw!r} contains a NUL byte")
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else workspace / path
    # The directory's symlinks are resolved; the name itself is not followed, since a
    # rename replaces a symlink rather than writing through it.
    return Path(os.path.realpath(path.parent)) / path.name


def _read(path: Path, raw: str) -> tuple[str, int]:
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise PatchError(f"Failed to read file to update {raw}: not a regular file")
        if info.st_size > _MAX_PATCH_FILE_BYTES:
            raise PatchError(f"Failed to read file to update {raw}: larger than 8 MiB")
        return path.read_text(encoding="utf-8"), stat.S_IMODE(info.st_mode)
    except UnicodeDecodeError as exc:
        raise PatchError(f"Failed to read file to update {raw}: not UTF-8 text") from exc
    except OSError as exc:
        raise PatchError(f"Failed to read file to update {raw}: {exc.strerror or exc}") from exc


def plan_patch(hunks: list[AddFile | DeleteFile | UpdateFile], workspace: Path) -> PatchPlan:
    """Verify ``hunks`` against the files and compute every write.

    Raises:
        PatchError: A file cannot be read, a hunk does not match, or two hunks
            touch the same file.
    """
    if not hunks:
        raise PatchError("the patch has no hunks")
    root = Path(os.path.realpath(workspace))
    plan = PatchPlan()

    def claim(path: Path, raw: str, content: str | None) -> None:
        if path in plan.writes:
            raise PatchError(f"the patch changes {raw} twice; merge those hunks")
        plan.writes[path] = content

    for hunk in hunks:
        path = _target(root, hunk.path)
        if isinstance(hunk, AddFile):
            claim(path, hunk.path, hunk.content)
            plan.changes.append((hunk.path, "add"))
        elif isinstance(hunk, DeleteFile):
            if not os.path.isfile(path) or os.path.islink(path):
                raise PatchError(f"Failed to delete file {hunk.path}")
            claim(path, hunk.path, None)
            plan.changes.append((hunk.path, "delete"))
        else:
            original, mode = _read(path, hunk.path)
            updated = apply_chunks(hunk.path, original, hunk.chunks)
            if hunk.move_to:
                dest = _target(root, hunk.move_to)
                claim(dest, hunk.move_to, updated)
                plan.modes[dest] = mode
                claim(path, hunk.path, None)
                plan.changes.append((hunk.move_to, "update"))
            else:
                claim(path, hunk.path, updated)
                plan.modes[path] = mode
                plan.changes.append((hunk.path, "update"))
    return plan


def apply_plan(plan: PatchPlan) -> None:
    """Write ``plan`` to disk, all files or none (see the module docs).

    Raises:
        PatchError: A write failed; nothing was changed.
    """
    created_dirs: list[Path] = []
    staged: dict[Path, Path] = {}
    aside: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for path, content in plan.writes.items():
            if content is None:
                continue
            created_dirs.extend(_make_parents(path.parent))
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".patch", dir=path.parent)
            staged[path] = Path(temp)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(content)
            os.chmod(temp, plan.modes.get(path, 0o644))
        for path in plan.writes:
            if os.path.lexists(path):
                if os.path.isdir(path) and not os.path.islink(path):
                    raise PatchError(f"Failed to write {path}: it is a directory")
                keep = path.parent / f".{path.name}.{secrets.token_hex(8)}.old"
                os.rename(path, keep)
                aside[path] = keep
        for target, staged_file in staged.items():
            os.rename(staged_file, target)
            placed.append(target)
    except BaseException as exc:
        _roll_back(staged, aside, placed, created_dirs)
        if isinstance(exc, PatchError):
            raise
        if isinstance(exc, OSError):
            raise PatchError(f"Failed to write the patch: {exc.strerror or exc}") from exc
        raise
    for keep in aside.values():
        with contextlib.suppress(OSError):
            os.unlink(keep)


def _make_parents(folder: Path) -> list[Path]:
    missing: list[Path] = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        os.mkdir(path)
    return missing


def _roll_back(
    staged: dict[Path, Path], aside: dict[Path, Path], placed: list[Path], dirs: list[Path]
) -> None:
    for path in placed:
        with contextlib.suppress(OSError):
            os.unlink(path)
    for path, keep in aside.items():
        with contextlib.suppress(OSError):
            os.rename(keep, path)
    for path, temp in staged.items():
        if path not in placed:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    for folder in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(folder)

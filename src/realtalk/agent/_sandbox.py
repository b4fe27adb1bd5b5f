"""Sandbox policies: what a command (and ``apply_patch``) may read and write.

Modes (``[agent] sandbox``, ``--sandbox``, app-server ``thread/start.sandbox``):

* ``read-only``: nothing on the host is writable (the workspace stays readable).
* ``workspace-write`` (default): writable roots are the workspace and the extra
  ``[agent.sandbox] writable`` roots. Under every writable root, ``.git`` (a
  directory or a gitfile), the gitdir a gitfile points to, and ``.realtalk`` stay
  read-only when they exist.
* ``danger-full-access``: no limits and no sandbox.

In both sandboxed modes ``/tmp`` inside the sandbox is private and empty (a
tmpfs, gone when the command ends; the host's ``/tmp`` is not visible, except the
workspace and other rules' paths that live there), the network is off unless ``network = true``,
``[agent.sandbox] read_only`` paths are read-only and ``deny`` paths are hidden.

A policy is a list of rules (path, access). For a path, among the rules whose path
is the path or one of its ancestors, the one with the most path components wins;
ties go ``none`` > ``write`` > ``read`` (reference 1). A deeper ``write`` rule
therefore reopens a denied parent: ``deny = ["secrets"]`` with
``writable = ["secrets/scratch"]`` hides ``secrets`` but keeps ``secrets/scratch``
writable. Relative config paths are relative to the workspace. Rules are
computed per command (:meth:`SandboxPolicy.resolve`), so a ``.git`` created in
the meantime is protected from the next command on.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from realtalk._errors import ConfigError

__all__ = [
    "PROTECTED_NAMES",
    "Access",
    "ResolvedPolicy",
    "Rule",
    "SandboxMode",
    "SandboxPolicy",
    "canonical_target",
]

PROTECTED_NAMES: Final = (".git", ".realtalk")
"""Names kept read-only under every writable root."""


class SandboxMode(enum.StrEnum):
    READ_ONLY = "read-only"
    WORKSPACE_WRITE = "workspace-write"
    DANGER_FULL_ACCESS = "danger-full-access"


class Access(enum.IntEnum):
    """Access to a path; the value orders ties (higher wins)."""

    READ = 0
    WRITE = 1
    NONE = 2


@dataclass(frozen=True, slots=True)
class Rule:
    path: Path
    access: Access

    @property
    def depth(self) -> int:
        return len(self.path.parts)


@dataclass(frozen=True, kw_only=True)
class SandboxPolicy:
    """The configured policy (paths as written in the config)."""

    mode: SandboxMode = SandboxMode.WORKSPACE_WRITE
    writable: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    network: bool = False

    def resolve(self, workspace: Path) -> ResolvedPolicy:
        """The rules for ``workspace``, with canonical absolute paths.

        Raises:
            ConfigError: ``workspace-write`` with the filesystem root as workspace.
        """
        root = Path(os.path.realpath(workspace))
        if self.mode is SandboxMode.DANGER_FULL_ACCESS:
            return ResolvedPolicy(self.mode, root, (Rule(Path("/"), Access.WRITE),), network=True)
        rules: dict[Path, Access] = {Path("/"): Access.READ}

        def add(path: Path, access: Access) -> None:
            if path not in rules or access > rules[path]:
                rules[path] = access

        # The workspace is always visible, even under the private /tmp.
        add(root, Access.READ)
        if self.mode is SandboxMode.WORKSPACE_WRITE:
            if root == Path("/"):
                raise ConfigError(
                    "the workspace cannot be / with sandbox workspace-write (everything would "
                    "be writable); choose a project directory"
                )
            writable = [root, *(_canonical(root, p) for p in self.writable)]
            protected = [p for w in writable for p in _protected_under(w)]
            for path in protected:
                add(path, Access.READ)
            for path in writable:
                add(path, Access.WRITE)
        for raw in self.read_only:
            add(_canonical(root, raw), Access.READ)
        for raw in self.deny:
            add(_canonical(root, raw), Access.NONE)
        ordered = tuple(
            Rule(path, access)
            for path, access in sorted(rules.items(), key=lambda kv: (len(kv[0].parts), str(kv[0])))
        )
        return ResolvedPolicy(self.mode, root, ordered, network=self.network)


@dataclass(frozen=True, slots=True)
class ResolvedPolicy:
    """Rules for one workspace, shallowest first (the order bwrap mounts them in)."""

    mode: SandboxMode
    workspace: Path
    rules: tuple[Rule, ...]
    network: bool

    @property
    def sandboxed(self) -> bool:
        return self.mode is not SandboxMode.DANGER_FULL_ACCESS

    @property
    def writable_roots(self) -> list[Path]:
        return [r.path for r in self.rules if r.access is Access.WRITE]

    def access(self, path: Path) -> Access:
        """The access the rules give ``path`` (an absolute, canonical path)."""
        best: Rule | None = None
        for rule in self.rules:
            if path != rule.path and not path.is_relative_to(rule.path):
                continue
            if best is None or (rule.depth, rule.access) > (best.depth, best.access):
                best = rule
        return best.access if best is not None else Access.NONE

    def describe(self) -> str:
        """One line for logs and the startup message."""
        if not self.sandboxed:
            return "danger-full-access (no sandbox)"
        writable = ", ".join(str(p) for p in self.writable_roots) or "nothing"
        network = "on" if self.network else "off"
        return f"{self.mode.value}: writable {writable} and a private /tmp; network {network}"


def canonical_target(workspace: Path, path: str) -> Path:
    """``path`` (relative to ``workspace``) made absolute, symlinks resolved."""
    return _canonical(Path(os.path.realpath(workspace)), path)


def _canonical(root: Path, raw: str) -> Path:
    path = Path(raw).expanduser()
    return Path(os.path.realpath(path if path.is_absolute() else root / path))


def _protected_under(root: Path) -> list[Path]:
    found: list[Path] = []
    for name in PROTECTED_NAMES:
        path = root / name
        if not os.path.lexists(path):
            continue
        found.append(Path(os.path.realpath(path)))
        if name == ".git" and path.is_file():
            gitdir = _gitdir_of(path)
            if gitdir is not None:
                found.append(gitdir)
    return found


def _gitdir_of(gitfile: Path) -> Path | None:
    """The existing directory a ``gitdir: X`` file points to (X relative to its folder)."""
    try:
        text = gitfile.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("gitdir:"):
            target = Path(os.path.realpath(gitfile.parent / line.removeprefix("gitdir:").strip()))
            return target if target.is_dir() else None
    return None

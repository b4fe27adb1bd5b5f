"""Sandbox policies without running anything: rules, precedence, bwrap argv, bwrap lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from realtalk import ConfigError
from realtalk.agent import SandboxMode, SandboxPolicy
from realtalk.agent._bwrap import bwrap_argv, find_bwrap
from realtalk.agent._sandbox import Access


def _repo(tmp_path: Path) -> Path:
    ws = tmp_path / "repo"
    (ws / ".git").mkdir(parents=True)
    (ws / "src").mkdir()
    return ws


def test_workspace_write_protects_git_and_realtalk(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    (ws / ".realtalk").mkdir()
    policy = SandboxPolicy().resolve(ws)
    assert policy.access(ws / "src" / "a.py") is Access.WRITE
    assert policy.access(ws / ".git" / "config") is Access.READ
    assert policy.access(ws / ".realtalk" / "x") is Access.READ
    assert policy.access(Path("/etc/passwd")) is Access.READ
    assert policy.access(tmp_path / "elsewhere") is Access.READ
    assert policy.writable_roots == [ws]
    assert not policy.network


def test_gitfile_points_to_a_protected_gitdir(tmp_path: Path) -> None:
    real_gitdir = tmp_path / "main" / ".git" / "worktrees" / "wt"
    real_gitdir.mkdir(parents=True)
    ws = tmp_path / "wt"
    ws.mkdir()
    (ws / ".git").write_text(f"gitdir: {os.path.relpath(real_gitdir, ws)}\n")
    policy = SandboxPolicy(writable=(str(real_gitdir.parent),)).resolve(ws)
    assert policy.access(ws / ".git") is Access.READ
    # The gitdir is inside an extra writable root, and still read-only.
    assert policy.access(real_gitdir / "HEAD") is Access.READ
    assert policy.access(real_gitdir.parent / "other") is Access.WRITE


def test_most_specific_rule_wins_and_ties_go_none_write_read(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    policy = SandboxPolicy(
        deny=("secrets",), writable=("secrets/scratch",), read_only=("src", "docs")
    ).resolve(ws)
    assert policy.access(ws / "secrets" / "key.pem") is Access.NONE
    assert policy.access(ws / "secrets" / "scratch" / "x") is Access.WRITE
    assert policy.access(ws / "src" / "a.py") is Access.READ
    # The same path named twice: none beats write beats read.
    tie = SandboxPolicy(writable=("a",), read_only=("a",), deny=("b",)).resolve(ws)
    assert tie.access(ws / "a") is Access.WRITE
    tie2 = SandboxPolicy(writable=("b",), deny=("b",)).resolve(ws)
    assert tie2.access(ws / "b" / "c") is Access.NONE


def test_read_only_and_full_access_modes(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    ro = SandboxPolicy(mode=SandboxMode.READ_ONLY).resolve(ws)
    assert ro.access(ws / "src") is Access.READ and ro.writable_roots == []
    full = SandboxPolicy(mode=SandboxMode.DANGER_FULL_ACCESS).resolve(ws)
    assert not full.sandboxed and full.access(Path("/etc/passwd")) is Access.WRITE


def test_workspace_write_on_the_root_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot be /"):
        SandboxPolicy().resolve(Path("/"))
    # Read-only on / is harmless.
    assert SandboxPolicy(mode=SandboxMode.READ_ONLY).resolve(Path("/")).writable_roots == []


def _index(argv: list[str], *items: str) -> int:
    for i in range(len(argv) - len(items) + 1):
        if tuple(argv[i : i + len(items)]) == items:
            return i
    raise AssertionError(f"{items} not in {argv}")


def test_bwrap_argv_order(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    (ws / "secrets" / "scratch").mkdir(parents=True)
    policy = SandboxPolicy(deny=("secrets",), writable=("secrets/scratch",)).resolve(ws)
    argv = bwrap_argv("/usr/bin/bwrap", policy, ["echo", "hi"], cwd=ws)
    w, g = str(ws), str(ws / ".git")
    secrets, scratch = str(ws / "secrets"), str(ws / "secrets" / "scratch")
    assert argv[:8] == [
        "/usr/bin/bwrap",
        "--new-session",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
    ]
    order = [
        _index(argv, "--tmpfs", "/tmp"),
        _index(argv, "--bind", w, w),
        _index(argv, "--ro-bind", g, g),
        _index(argv, "--perms", "111", "--tmpfs", secrets),
        _index(argv, "--bind", scratch, scratch),
        _index(argv, "--remount-ro", secrets),
        _index(argv, "--unshare-user", "--unshare-pid"),
        _index(argv, "--unshare-net"),
        _index(argv, "--proc", "/proc"),
        _index(argv, "--chdir", w),
    ]
    assert order == sorted(order)
    assert argv[-3:] == ["--", "echo", "hi"]


def test_bwrap_argv_network_and_proc_options(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    argv = bwrap_argv(
        "bwrap", SandboxPolicy(network=True).resolve(ws), ["true"], cwd=ws, mount_proc=False
    )
    assert "--unshare-net" not in argv
    assert _index(argv, "--tmpfs", "/proc") > 0 and "--proc" not in argv
    # A denied directory with nothing reopened below it is unreadable; a file is /dev/null.
    (ws / "key.pem").write_text("k")
    denied = SandboxPolicy(deny=("src", "key.pem")).resolve(ws)
    argv = bwrap_argv("bwrap", denied, ["true"], cwd=ws)
    assert _index(argv, "--perms", "000", "--tmpfs", str(ws / "src")) > 0
    assert _index(argv, "--ro-bind", "/dev/null", str(ws / "key.pem")) > 0
    # Rules for paths that do not exist are skipped (no mount points on the host).
    missing = SandboxPolicy(read_only=("nope",)).resolve(ws)
    assert str(ws / "nope") not in bwrap_argv("bwrap", missing, ["true"], cwd=ws)


def _fake_bwrap(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bwrap"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_find_bwrap_skips_a_workspace_local_copy(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    local = _fake_bwrap(ws / "bin")
    system = _fake_bwrap(tmp_path / "system")
    path_env = os.pathsep.join([str(local.parent), str(system.parent)])
    assert find_bwrap(ws, path_env) == str(system)
    assert find_bwrap(ws, str(local.parent)) is None
    assert find_bwrap(ws, "") is None

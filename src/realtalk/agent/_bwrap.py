"""Linux enforcement with bubblewrap: finding ``bwrap``, probing it, building its argv.

* **Which bwrap.** The first ``bwrap`` on ``PATH`` whose canonical path is not
  inside the workspace (a workspace could ship its own "bwrap"). Debian/Ubuntu:
  ``apt-get install bubblewrap``.
* **Probe.** ``bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / /
  --proc /proc true`` once per bwrap binary. If mounting ``/proc`` is refused (some
  containers), the probe is repeated without it and commands get an empty
  ``/proc`` instead (the host's ``/proc`` would show other processes'
  environments). A failure that names user namespaces gets its own reason.
  :func:`sandbox_status` caches the answer; realtalk reports it once at startup
  and refuses sandboxed commands with the same reason (fail closed).
* **Invocation** (reference 2, in this order): ``--new-session --die-with-parent``;
  ``--ro-bind / /``; ``--dev /dev``; ``--tmpfs /tmp`` (the private tmp);
  ``--tmpfs /run`` when the network is off (no host Unix sockets: D-Bus, the
  session bus, database and container daemons); the
  policy's rules shallowest first (``--bind`` writable, ``--ro-bind`` read-only,
  a denied directory becomes an empty ``--tmpfs`` with mode 000 (111 when a rule
  below reopens something) and a denied file ``/dev/null``); ``--remount-ro`` of
  the denied tmpfs mounts (not recursive, so reopened children keep their
  access); ``--unshare-user --unshare-pid --unshare-ipc`` and ``--unshare-net``
  when the network is off (only a loopback interface is left); ``--proc /proc``;
  ``--chdir``; ``--`` and the command. Rules whose path does not exist are
  skipped (bwrap would create mount points on the host).
* **Background children.** No ``--as-pid-1``: bwrap's own init is PID 1 in the
  sandbox's PID namespace. It reaps orphans while the command runs, and when the
  command exits the namespace goes down with it, so a child it left running
  (``sleep 30 &``, even in its own session or deaf to SIGHUP/SIGTERM) dies at once
  and a command returns at its exit. ``--die-with-parent`` takes the sandbox down
  if the agent itself dies (tests/agent/test_sandbox_background.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from realtalk.agent._sandbox import Access, ResolvedPolicy

__all__ = ["SandboxStatus", "bwrap_argv", "find_bwrap", "reset_sandbox_cache", "sandbox_status"]

INSTALL_HINT: Final = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"
_PROBE_TIMEOUT_S: Final = 10.0
_USERNS_MARKERS: Final = (
    "setting up uid map: Permission denied",
    "No permissions to create a new namespace",
    "loopback: Failed RTM_NEWADDR",
    "loopback: Failed RTM_NEWLINK",
    "Creating new namespace failed",
)
_PROC_MARKERS: Final = ("Can't mount proc", "/newroot/proc")


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """Whether sandboxed commands can run, and if not, why."""

    available: bool
    reason: str
    bwrap: str | None = None
    mount_proc: bool = True


def find_bwrap(workspace: Path, path_env: str | None) -> str | None:
    """The first executable ``bwrap`` on ``path_env`` outside ``workspace``."""
    root = Path(os.path.realpath(workspace))
    for folder in (path_env or "").split(os.pathsep):
        if not folder:
            continue
        candidate = Path(folder) / "bwrap"
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            continue
        real = Path(os.path.realpath(candidate))
        if real.is_relative_to(root):
            continue
        return str(real)
    return None


_cache: dict[str, SandboxStatus] = {}


def reset_sandbox_cache() -> None:
    """Forget probe results (tests; after installing bubblewrap)."""
    _cache.clear()


async def sandbox_status(workspace: Path, path_env: str | None) -> SandboxStatus:
    """Whether commands for ``workspace`` can be sandboxed here (probed once per bwrap)."""
    if not sys.platform.startswith("linux"):
        return SandboxStatus(
            available=False,
            reason=f"no sandbox is available on {sys.platform}: realtalk sandboxes commands "
            "with bubblewrap on Linux only",
        )
    bwrap = find_bwrap(workspace, path_env)
    if bwrap is None:
        return SandboxStatus(
            available=False, reason=f"bubblewrap (bwrap) was not found on PATH; {INSTALL_HINT}"
        )
    cached = _cache.get(bwrap)
    if cached is None:
        cached = _cache[bwrap] = await _probe(bwrap)
    return cached


async def _probe(bwrap: str) -> SandboxStatus:
    base = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/"]
    ok, stderr = await _run_quiet([*base, "--proc", "/proc", "--", "true"])
    if ok:
        return SandboxStatus(available=True, reason="bubblewrap works", bwrap=bwrap)
    if any(marker in stderr for marker in _PROC_MARKERS):
        ok, stderr = await _run_quiet([*base, "--", "true"])
        if ok:
            return SandboxStatus(
                available=True,
                reason="bubblewrap works (without a private /proc)",
                bwrap=bwrap,
                mount_proc=False,
            )
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
    if any(marker in stderr for marker in _USERNS_MARKERS):
        reason = (
            f"bubblewrap cannot create user namespaces here ({detail}); enable unprivileged "
            "user namespaces (sysctl kernel.unprivileged_userns_clone=1 or "
            "user.max_user_namespaces) or run in a VM"
        )
    else:
        reason = f"bubblewrap at {bwrap} does not work here ({detail})"
    return SandboxStatus(available=False, reason=reason, bwrap=bwrap)


async def _run_quiet(argv: list[str]) -> tuple[bool, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return False, exc.strerror or str(exc)
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"the probe did not finish within {_PROBE_TIMEOUT_S:g} s"
    return proc.returncode == 0, err.decode("utf-8", errors="replace")


def bwrap_argv(
    bwrap: str,
    policy: ResolvedPolicy,
    command: Sequence[str],
    *,
    cwd: Path,
    mount_proc: bool = True,
) -> list[str]:
    """The full argv running ``command`` in ``cwd`` under ``policy``."""
    args = [bwrap, "--new-session", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev"]
    args += ["--tmpfs", "/tmp"]
    remount: list[str] = []
    if not policy.network:
        # /run holds the host's Unix sockets (D-Bus, the user session bus, database and
        # container daemons): talking to them is a way out, so without the network
        # the sandbox gets an empty, read-only /run.
        args += ["--tmpfs", "/run"]
        remount.append("/run")
    rules = [r for r in policy.rules if r.path != Path("/")]
    for rule in rules:
        path = str(rule.path)
        if not os.path.lexists(path):
            continue
        if rule.access is Access.WRITE:
            args += ["--bind", path, path]
        elif rule.access is Access.READ:
            args += ["--ro-bind", path, path]
        elif os.path.isdir(path):
            reopened = any(r.path.is_relative_to(rule.path) and r is not rule for r in rules)
            args += ["--perms", "111" if reopened else "000", "--tmpfs", path]
            remount.append(path)
        else:
            args += ["--ro-bind", "/dev/null", path]
    for path in remount:
        args += ["--remount-ro", path]
    args += ["--unshare-user", "--unshare-pid", "--unshare-ipc"]
    if not policy.network:
        args.append("--unshare-net")
    args += ["--proc", "/proc"] if mount_proc else ["--tmpfs", "/proc"]
    args += ["--chdir", str(cwd), "--", *command]
    return args

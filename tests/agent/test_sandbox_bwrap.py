"""The sandbox enforced by the real bubblewrap (installed by ``make sysdeps``).

Every test runs real commands under ``bwrap`` and checks the host afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from realtalk.agent import SafetyOptions, SandboxMode, SandboxPolicy
from realtalk.agent._bwrap import bwrap_argv, reset_sandbox_cache, sandbox_status
from realtalk.agent._process import ProcessResult, run_process
from realtalk.agent._shell import CommandSandbox

from .._sandboxed_python import SANDBOXED_PYTHON

CANARY = "sk-canary-0123456789abcdefABCDEF"


def _repo(tmp_path: Path) -> Path:
    ws = tmp_path / "repo"
    (ws / ".git" / "hooks").mkdir(parents=True)
    return ws


async def _run(
    ws: Path, *argv: str, policy: SandboxPolicy | None = None, escalated: bool = False, **kw: object
) -> ProcessResult:
    options = SafetyOptions(sandbox=policy or SandboxPolicy(), **kw)  # type: ignore[arg-type]
    outcome = await CommandSandbox(ws, options).run(
        list(argv), timeout_s=30, cap=64 * 1024, escalated=escalated
    )
    assert outcome.refused is None, outcome.refused
    assert outcome.result is not None
    return outcome.result


def test_bwrap_is_installed() -> None:
    # The Makefile's sysdeps target installs Debian's bubblewrap; no test here is skipped.
    assert shutil.which("bwrap") is not None, "bubblewrap missing: run `make sysdeps`"


async def test_workspace_is_writable_git_and_outside_are_not(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    outside = Path.home() / f".realtalk-sandbox-probe-{os.getpid()}"
    result = await _run(ws, "sh", "-c", "echo ok > made.txt && cat made.txt")
    assert result.exit_code == 0 and result.output == "ok\n"
    assert (ws / "made.txt").read_text() == "ok\n"

    result = await _run(ws, "touch", ".git/x")
    assert result.exit_code != 0 and "Read-only file system" in result.output
    assert not (ws / ".git" / "x").exists()
    result = await _run(ws, "sh", "-c", "echo evil > .git/hooks/pre-commit")
    assert result.exit_code != 0 and not (ws / ".git" / "hooks" / "pre-commit").exists()

    try:
        result = await _run(ws, "touch", str(outside))
        assert result.exit_code != 0 and "Read-only file system" in result.output
        assert not outside.exists()
    finally:
        outside.unlink(missing_ok=True)
    # The rest of the host's /tmp is not even visible (the sandbox has its own).
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    result = await _run(ws, "touch", str(sibling / "x"))
    assert result.exit_code != 0 and not (sibling / "x").exists()


async def test_tmp_is_private_and_empty(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    marker = Path("/tmp") / f"realtalk-sandbox-test-{os.getpid()}"
    result = await _run(ws, "sh", "-c", f"ls -A /tmp; echo $TMPDIR; echo hi > {marker}")
    try:
        assert result.exit_code == 0
        # The host /tmp holds pytest's own files; the sandbox's /tmp only the
        # mount point leading to the workspace (which lives under /tmp here).
        listed = result.output.splitlines()
        assert listed[-1] == "/tmp"
        assert not marker.exists()
    finally:
        marker.unlink(missing_ok=True)


async def test_read_only_mode_writes_nothing(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    policy = SandboxPolicy(mode=SandboxMode.READ_ONLY)
    result = await _run(ws, "touch", "x", policy=policy)
    assert result.exit_code != 0 and not (ws / "x").exists()
    assert (await _run(ws, "ls", policy=policy)).exit_code == 0


async def test_denied_parent_with_a_writable_child(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    (ws / "secrets" / "scratch").mkdir(parents=True)
    (ws / "secrets" / "key.pem").write_text("PRIVATE")
    (ws / "docs").mkdir()
    (ws / "docs" / "a.md").write_text("doc")
    policy = SandboxPolicy(deny=("secrets",), writable=("secrets/scratch",), read_only=("docs",))
    result = await _run(ws, "cat", "secrets/key.pem", policy=policy)
    assert result.exit_code != 0 and "PRIVATE" not in result.output
    result = await _run(
        ws, "sh", "-c", "echo w > secrets/scratch/w && cat docs/a.md", policy=policy
    )
    assert result.exit_code == 0 and result.output == "doc"
    assert (ws / "secrets" / "scratch" / "w").read_text() == "w\n"
    result = await _run(ws, "touch", "docs/b.md", policy=policy)
    assert result.exit_code != 0 and not (ws / "docs" / "b.md").exists()
    assert (ws / "secrets" / "key.pem").read_text() == "PRIVATE"


@pytest.fixture
async def host_listener() -> AsyncIterator[int]:
    """A TCP listener on the host's loopback; its port."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def _connect_argv(port: int) -> list[str]:
    code = (
        "import socket,sys\n"
        f"s=socket.create_connection(('127.0.0.1',{port}),timeout=5)\n"
        "sys.stdout.write(s.recv(16).decode())"
    )
    return [SANDBOXED_PYTHON, "-c", code]


async def test_network_is_off_unless_allowed(tmp_path: Path, host_listener: int) -> None:
    ws = _repo(tmp_path)
    blocked = await _run(ws, *_connect_argv(host_listener))
    assert blocked.exit_code != 0 and "hello" not in blocked.output
    assert "Connection refused" in blocked.output  # its own, empty loopback
    allowed = await _run(ws, *_connect_argv(host_listener), policy=SandboxPolicy(network=True))
    assert allowed.exit_code == 0 and allowed.output == "hello\n"
    # An approved escalation runs outside the sandbox.
    escalated = await _run(ws, *_connect_argv(host_listener), escalated=True)
    assert escalated.exit_code == 0 and escalated.output == "hello\n"


async def test_commands_get_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _repo(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("REALTALK_APP_SERVER_TOKEN", "app-server-token-123456")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_0123456789")
    monkeypatch.setenv("DB_PASSWORD_FILE", "/run/pw")
    monkeypatch.setenv("NPM_TOKEN", "npm_0123456789")
    monkeypatch.setenv("HARMLESS", "visible")
    result = await _run(ws, "env", env_allow=("NPM_TOKEN", "OPENAI_API_KEY"))
    names = {line.split("=", 1)[0] for line in result.output.splitlines()}
    assert "HARMLESS" in names and "NPM_TOKEN" in names  # allowed by env_allow
    assert not names & {"OPENAI_API_KEY", "REALTALK_APP_SERVER_TOKEN", "GITHUB_TOKEN"}
    assert "DB_PASSWORD_FILE" not in names
    assert {"REALTALK_SANDBOXED", "REALTALK_SANDBOX_NETWORK_DISABLED", "TMPDIR"} <= names
    assert CANARY not in result.output
    # Even a command that finds the key elsewhere shows it scrubbed.
    (ws / "leak.txt").write_text(f"key={CANARY}\n")
    leaked = await _run(ws, "cat", "leak.txt")
    assert CANARY not in leaked.output and "key=sk-***" in leaked.output


async def test_host_unix_sockets_in_run_are_hidden_without_network(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    hidden = await _run(ws, "ls", "-A", "/run")
    assert hidden.exit_code == 0 and hidden.output == ""
    assert (await _run(ws, "touch", "/run/x")).exit_code != 0
    host = set(os.listdir("/run"))
    assert host, "the premise: the host's /run is not empty"
    shown = await _run(ws, "ls", "-A", "/run", policy=SandboxPolicy(network=True))
    # (Equality would race with other processes adding or removing entries.)
    assert set(shown.output.split()) & host


async def test_proc_shows_only_the_sandbox(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    result = await _run(
        ws, "sh", "-c", f"test -e /proc/{os.getpid()}/environ && echo seen || echo hidden"
    )
    assert result.output == "hidden\n"


async def test_missing_bwrap_refuses_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _repo(tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    sandbox = CommandSandbox(ws, SafetyOptions())
    status = await sandbox.status()
    assert not status.available and "bubblewrap (bwrap) was not found on PATH" in status.reason
    outcome = await sandbox.run(["touch", "x"], timeout_s=10, cap=1024)
    assert outcome.result is None and outcome.refused is not None
    assert status.reason in outcome.refused
    assert not (ws / "x").exists()
    # danger-full-access needs no sandbox: it runs (and is the user's explicit choice).
    full = CommandSandbox(
        ws, SafetyOptions(sandbox=SandboxPolicy(mode=SandboxMode.DANGER_FULL_ACCESS))
    )
    assert (await full.status()).available
    ran = await full.run(["/bin/sh", "-c", "echo out > ../outside.txt"], timeout_s=10, cap=1024)
    assert ran.result is not None and ran.result.exit_code == 0
    assert (tmp_path / "outside.txt").read_text() == "out\n"


async def test_a_bwrap_that_cannot_create_namespaces_is_reported(tmp_path: Path) -> None:
    ws = _repo(tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"
    )
    (fake / "bwrap").chmod(0o755)
    reset_sandbox_cache()
    try:
        status = await sandbox_status(ws, str(fake))
    finally:
        reset_sandbox_cache()
    assert not status.available
    assert "cannot create user namespaces" in status.reason
    assert "setting up uid map" in status.reason


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory anyone may write (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="realtalk-shared-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_sandbox_works_for_an_unprivileged_user(shared_dir: Path) -> None:
    # CI runs as root; users do not. As root, run bwrap as `nobody` through setpriv.
    ws = shared_dir
    status = await sandbox_status(ws, os.environ.get("PATH"))
    assert status.available and status.bwrap is not None
    inner = bwrap_argv(
        status.bwrap, SandboxPolicy().resolve(ws), ["sh", "-c", "id -u; touch ok"], cwd=ws
    )
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (util-linux) is needed to drop root"
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    result = await run_process([*prefix, *inner], cwd=ws, timeout_s=30, cap=4096)
    assert result.exit_code == 0, result.output
    assert (ws / "ok").exists()
    if prefix:
        assert result.output.splitlines()[0] == "65534"


async def test_a_probe_outlives_a_cancelled_command_and_is_awaited_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An agent task interrupted while the sandbox is probed must not kill bwrap half-way
    # (its inner child would be stranded) nor leave the probe to a closed loop: the
    # probe finishes by itself, its result is kept, and aclose() waits for it.
    ws = _repo(tmp_path)
    fake = tmp_path / "fakebin"
    fake.mkdir()
    gate = tmp_path / "probe-gate"
    os.mkfifo(gate)
    (fake / "bwrap").write_text(f"#!/bin/sh\nread line < {gate}\nexit 0\n")
    (fake / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ.get('PATH', '')}")
    reset_sandbox_cache()
    try:
        sandbox = CommandSandbox(ws, SafetyOptions())
        asking = asyncio.ensure_future(sandbox.status())
        async with asyncio.timeout(10):
            writer = await asyncio.to_thread(gate.open, "w")  # the probe is running
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        writer.write("go\n")
        writer.close()
        async with asyncio.timeout(10):
            await sandbox.aclose()  # the probe finished by itself
            status = await sandbox.status()  # kept: no second probe (it would block)
    finally:
        reset_sandbox_cache()
    assert status.available and status.bwrap == str(fake / "bwrap")

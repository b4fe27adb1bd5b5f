"""``realtalk exec`` as a user runs it: real subprocesses, real bubblewrap, loopback only."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from .._sandboxed_python import SANDBOXED_PYTHON
from ._run import Run, log_file, run_realtalk

CANARY = "sk-canary-REALTALK-0123456789abcdef"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    return root


async def exec_(tmp_path: Path, ws: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return await run_realtalk(tmp_path, "exec", *args, env=env, cwd=ws, timeout_s=90)


def assert_no_canary(run: Run, tmp_path: Path) -> str:
    log = log_file(tmp_path).read_text()
    for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("log", log)):
        assert CANARY not in text, f"the key leaked into {where}"
        assert "canary-REALTALK" not in text, f"part of the key leaked into {where}"
    return log


async def test_printenv_of_the_key_prints_no_key(tmp_path: Path, ws: Path) -> None:
    run = await exec_(
        tmp_path,
        ws,
        "--offline",
        "-v",
        "run `printenv OPENAI_API_KEY`",
        env={"OPENAI_API_KEY": CANARY},
    )
    assert run.returncode == 0, run.stderr
    assert "$ printenv OPENAI_API_KEY    [sandbox: workspace-write]" in run.stdout
    assert "[exit 1]" in run.stdout  # the variable is not there at all
    log = assert_no_canary(run, tmp_path)
    assert "realtalk run started" in log and "command=exec" in log
    assert "sandbox decision" in log and "available=True" in log
    assert "agent command finished [command='printenv OPENAI_API_KEY' exit_code=1" in log
    assert os.stat(log_file(tmp_path)).st_mode & 0o777 == 0o600


async def test_the_key_is_used_but_never_shown(
    tmp_path: Path, ws: Path, emulator_factory: object
) -> None:
    emulator = await emulator_factory()  # type: ignore[operator]
    run = await exec_(
        tmp_path,
        ws,
        "-v",
        "--base-url",
        emulator.base_url,
        "run `printenv OPENAI_API_KEY`",
        env={"OPENAI_API_KEY": CANARY},
    )
    assert run.returncode == 0, run.stderr
    assert_no_canary(run, tmp_path)
    sent = [h.headers.get("authorization") for h in emulator.responses.handshakes]
    sent += [r.headers.get("authorization") for r in emulator.responses.requests]
    assert f"Bearer {CANARY}" in sent


@pytest.fixture
async def echoing_401() -> AsyncIterator[str]:
    """A server whose 401 body echoes the Authorization header (HTTP and WS upgrade)."""

    async def refuse(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        body = {"error": {"message": f"Invalid header: Authorization: {header}", "code": "401"}}
        return web.json_response(body, status=401)

    app = web.Application()
    app.router.add_route("*", "/v1/responses", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


async def test_a_401_echoing_the_key_is_scrubbed(
    tmp_path: Path, ws: Path, echoing_401: str
) -> None:
    for verbose in ((), ("-v",)):
        run = await exec_(
            tmp_path,
            ws,
            *verbose,
            "--base-url",
            echoing_401,
            "hello",
            env={"OPENAI_API_KEY": CANARY},
        )
        assert run.returncode == 1
        assert "HTTP 401" in run.stderr and "Bearer ***" in run.stderr
        assert_no_canary(run, tmp_path)


async def test_git_and_outside_writes_fail_with_a_sandbox_error(tmp_path: Path, ws: Path) -> None:
    run = await exec_(tmp_path, ws, "run `touch .git/x`")
    assert run.returncode == 0, run.stderr
    assert "touch: cannot touch '.git/x': Read-only file system" in run.stdout
    assert not (ws / ".git" / "x").exists()
    probe = Path.home() / f".realtalk-exec-probe-{os.getpid()}"
    try:
        run = await exec_(tmp_path, ws, f"run `touch {probe}`")
        assert "Read-only file system" in run.stdout and not probe.exists()
    finally:
        probe.unlink(missing_ok=True)
    run = await exec_(tmp_path, ws, "run `touch inside.txt`")
    assert "[exit 0]" in run.stdout and (ws / "inside.txt").exists()


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello-from-host\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_network_fails_unless_allowed(tmp_path: Path, ws: Path, listener: int) -> None:
    code = f"import socket; print(socket.create_connection(('127.0.0.1', {listener}), 5).recv(20))"
    prompt = f'run `{SANDBOXED_PYTHON} -c "{code}"`'
    run = await exec_(tmp_path, ws, prompt)
    assert "ConnectionRefusedError" in run.stdout and "hello-from-host" not in run.stdout
    config = tmp_path / "config.toml"
    config.write_text('[agent.sandbox]\nmode = "workspace-write"\nnetwork = true\n')
    run = await exec_(tmp_path, ws, "--config", str(config), prompt)
    assert "hello-from-host" in run.stdout, run.stdout + run.stderr
    run = await exec_(tmp_path, ws, "--network", prompt)
    assert "hello-from-host" in run.stdout


async def test_without_bwrap_commands_are_refused_with_the_startup_reason(
    tmp_path: Path, ws: Path
) -> None:
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    run = await exec_(tmp_path, ws, "run `touch made.txt`", env={"PATH": str(no_bwrap)})
    reason = "bubblewrap (bwrap) was not found on PATH; install bubblewrap"
    assert f"realtalk: warning: the agent's commands will be refused: {reason}" in run.stderr
    assert f"sandbox unavailable: {reason}" in run.stdout
    assert "[failed]" in run.stdout and "None" not in run.stdout  # no exit code: never ran
    assert not (ws / "made.txt").exists()
    log = log_file(tmp_path).read_text()
    assert "available=False" in log and "command refused: no sandbox" in log


async def test_apply_patch_in_the_scripted_flow_as_json_lines(tmp_path: Path, ws: Path) -> None:
    patch = "*** Begin Patch\n*** Add File: docs/hello.txt\n+hello\n*** End Patch"
    run = await exec_(tmp_path, ws, "--json", f"please apply:\n{patch}")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0]["type"] == "thread.started" and lines[1] == {"type": "turn.started"}
    change = next(x["item"] for x in lines if x.get("item", {}).get("type") == "file_change")
    assert change["changes"] == [{"path": "docs/hello.txt", "kind": "add"}]
    assert change["status"] == "completed"
    message = next(x["item"] for x in lines if x.get("item", {}).get("type") == "agent_message")
    assert "Success. Updated the following files:" in message["text"]
    assert lines[-1]["type"] == "turn.completed"
    assert (ws / "docs" / "hello.txt").read_text() == "hello\n"


async def test_approval_flags_decide(tmp_path: Path, ws: Path) -> None:
    patch = "*** Begin Patch\n*** Add File: ../outside.txt\n+x\n*** End Patch"
    run = await exec_(tmp_path, ws, patch)
    assert "approval: May I change ../outside.txt?" in run.stdout and "-> decline" in run.stdout
    assert "apply_patch (declined)" in run.stdout
    assert not (tmp_path / "outside.txt").exists()
    run = await exec_(tmp_path, ws, "--approve", patch)
    assert "-> accept" in run.stdout and "apply_patch (completed)" in run.stdout
    assert (tmp_path / "outside.txt").read_text() == "x\n"


async def test_an_empty_prompt_is_one_clear_line(tmp_path: Path, ws: Path) -> None:
    run = await exec_(tmp_path, ws, "  ")
    assert run.returncode == 1
    assert (
        run.stderr.strip() == "realtalk: error: no prompt: pass the task as an argument or on stdin"
    )

"""``realtalk talk`` on the real-API path without ``OPENAI_API_KEY`` refuses at once.

No key and a base URL in force (the real API, or any server but the built-in
emulator): one line naming the variable, exit 1, before any connection (a loopback
listener sees none; the real API's host is never looked up) and before the
conversation's modules (transports, aiortc, the emulator) are imported. Real
subprocesses, offline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ._run import Run, run_realtalk

REAL_API = "https://api.openai.com/v1"
HEAVY = ("realtalk.conversation", "realtalk.transports", "realtalk.emulator", "aiortc", "av")
"""Modules a refused ``talk`` must not have imported."""


async def talk(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """``realtalk talk --text hi ARGS`` with ``-X importtime`` (its report on stderr)."""
    return await run_realtalk(
        tmp_path, "talk", "--text", "hi", *args, env=env, python_flags=("-X", "importtime")
    )


def imported(stderr: str) -> set[str]:
    """The modules ``-X importtime`` reported (``import time: ... | package.module``)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


def assert_refused(run: Run) -> None:
    assert run.returncode == 1, run.stderr
    (line,) = errors(run.stderr)
    assert line.startswith("realtalk: error: OPENAI_API_KEY is not set"), line
    assert "set OPENAI_API_KEY" in line
    assert "could not connect" not in run.stderr
    modules = imported(run.stderr)
    assert "realtalk.cli._main" in modules  # the report is there: the check below can fail
    heavy = {m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY)}
    assert heavy == set(), f"imported before refusing: {sorted(heavy)}"


@pytest.fixture
async def listener() -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server that counts the connections it is offered."""
    accepted: list[int] = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", accepted
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_the_real_api_without_a_key_is_refused_at_once(
    tmp_path: Path, transport: str
) -> None:
    run = await talk(tmp_path, "--base-url", REAL_API, "--transport", transport)
    assert_refused(run)
    assert REAL_API in errors(run.stderr)[0]
    # The same base URL from the environment.
    run = await talk(tmp_path, "--transport", transport, env={"OPENAI_BASE_URL": REAL_API})
    assert_refused(run)


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_a_server_without_a_key_gets_no_connection(
    tmp_path: Path, listener: tuple[str, list[int]], transport: str
) -> None:
    base_url, accepted = listener
    run = await talk(tmp_path, "--base-url", base_url, "--transport", transport)
    assert_refused(run)
    assert accepted == []


async def test_a_spawned_app_server_is_refused_the_same_way(
    tmp_path: Path, listener: tuple[str, list[int]]
) -> None:
    base_url, accepted = listener
    run = await talk(tmp_path, "--app-server", "stdio", "--base-url", base_url)
    assert_refused(run)
    assert accepted == []


async def test_without_key_or_base_url_it_runs_offline(tmp_path: Path) -> None:
    run = await talk(tmp_path)
    assert run.returncode == 0, errors(run.stderr)
    assert "using the offline emulator" in run.stdout

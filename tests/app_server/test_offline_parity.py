"""``realtalk app-server`` behaves like ``talk``: offline emulator, preconnect, key errors."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from realtalk.app_server import AppServer, Client

from ..cli._run import Run, clean_env
from .conftest import TIMEOUT, Backend, ClientFactory


async def test_thread_start_preconnects_the_agents_responses_socket(
    client: Client, backend: Backend
) -> None:
    responses = backend.responses
    assert responses.handshakes == []
    thread_id = (await client.thread_start()).thread.id
    # No turn yet: the handshake is the thread's preconnect.
    assert await responses.wait_for_handshakes(1, TIMEOUT)
    assert responses.requests == []
    mark = client.notification_count
    await client.turn_start(thread_id, "hello agent")
    completed = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    assert completed.params.turn.status == "completed"
    # The turn went out on the preconnected socket: no second handshake.
    assert [h.status for h in responses.handshakes] == [101]
    (request,) = responses.requests
    assert request.handshake == 1


async def test_thread_resume_preconnects_too(
    server: AppServer, client_factory: ClientFactory, backend: Backend
) -> None:
    first = await client_factory(server.url)
    second = await client_factory(server.url)
    thread_id = (await first.thread_start()).thread.id
    assert await backend.responses.wait_for_handshakes(1, TIMEOUT)
    # Archiving closes the loaded thread (and its agent); unarchived, it can be resumed.
    await first.thread_archive(thread_id)
    await second.thread_unarchive(thread_id)
    await second.thread_resume(thread_id)
    assert await backend.responses.wait_for_handshakes(2, TIMEOUT)
    assert backend.responses.requests == []


async def _app_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk",
        "app-server",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path, env),
    )
    try:
        async with asyncio.timeout(TIMEOUT * 3):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_a_base_url_without_a_key_says_which_variable_to_set(tmp_path: Path) -> None:
    run = await _app_server(tmp_path, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert run.returncode == 1
    assert run.stdout == ""
    assert "OPENAI_API_KEY is not set" in run.stderr
    assert "set OPENAI_API_KEY" in run.stderr and "unset OPENAI_BASE_URL" in run.stderr
    assert "Traceback" not in run.stderr


async def test_web_needs_a_websocket_listener(tmp_path: Path) -> None:
    run = await _app_server(tmp_path, "--web")
    assert run.returncode == 1
    assert "--web needs a WebSocket listener" in run.stderr

"""``talk`` time limits: connecting is bounded by ``--connect-timeout`` (named when it
expires), and ``--timeout`` is an idle limit (a long agent task outliving it is in
``test_talk_while_working``).

Every run is a real ``realtalk`` subprocess against loopback servers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests._http import DeafServer
from tests.cli._run import run_talk


class SilentServer:
    """Accepts TCP connections and reads what is sent, but never answers anything."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.accepted.set()
        while await reader.read(65536):  # the upgrade or the call POST: never answered
            pass

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def aclose(self) -> None:
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def silent() -> AsyncIterator[SilentServer]:
    server = SilentServer()
    yield server
    await server.aclose()


@pytest.mark.parametrize(
    ("transport", "what"),
    [
        ("websocket", "waiting for the realtime server at ws://127.0.0.1"),
        ("webrtc", "waiting for the realtime calls endpoint http://127.0.0.1"),
    ],
)
async def test_a_silent_server_fails_after_the_connect_timeout_naming_it(
    tmp_path: Path, silent: SilentServer, transport: str, what: str
) -> None:
    base = await silent.start()
    started = time.monotonic()
    run = await run_talk(
        tmp_path,
        "--transport",
        transport,
        "--base-url",
        base,
        "--connect-timeout",
        "2",
        "--text",
        "hello",
        env={"OPENAI_API_KEY": "sk-test-key"},
        timeout_s=30,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    assert silent.accepted.is_set()  # it got as far as the silent server
    assert "timed out after 2s (connect_timeout_s / --connect-timeout)" in run.stderr
    assert what in run.stderr
    assert "Traceback" not in run.stderr
    # About 2 s (plus interpreter start-up), far from the 15 s default.
    assert 2.0 <= elapsed < 10.0, elapsed


async def test_the_connect_timeout_comes_from_the_environment_too(
    tmp_path: Path, silent: SilentServer
) -> None:
    base = await silent.start()
    run = await run_talk(
        tmp_path,
        "--transport",
        "websocket",
        "--base-url",
        base,
        "--text",
        "hello",
        env={"OPENAI_API_KEY": "sk-test-key", "REALTALK_CONNECT_TIMEOUT_S": "1.5"},
        timeout_s=30,
    )
    assert run.returncode == 1
    assert "timed out after 1.5s (connect_timeout_s / --connect-timeout)" in run.stderr


async def test_the_idle_limit_still_ends_a_turn_nothing_answers(tmp_path: Path) -> None:
    # The server takes the session and then says nothing at all: no agent works, so
    # --timeout (an idle limit now) ends the run, naming what it waited for.
    async with DeafServer() as deaf:
        started = time.monotonic()
        run = await run_talk(
            tmp_path,
            "--transport",
            "websocket",
            "--base-url",
            f"http://127.0.0.1:{deaf.port}/v1",
            "--timeout",
            "2",
            "--text",
            "hello",
            env={"OPENAI_API_KEY": "sk-test-key"},
            timeout_s=30,
        )
        elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    assert "timed out: nothing happened for 2s while waiting for the assistant" in run.stderr
    assert "raise --timeout" in run.stderr
    assert 2.0 <= elapsed < 10.0, elapsed

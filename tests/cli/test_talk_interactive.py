"""Interactive ``talk``: typed lines and the microphone, locally and through an app-server.

Quitting must be immediate (Ctrl-C at the prompt), the loop must notice the
conversation ending while it waits for input, and ``--mic``/``--speaker`` work the
same through an app-server as they do locally (in-memory sound device, no sound card).
"""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from realtalk import RealtalkError
from realtalk.app_server import AppServer, AppServerOptions
from realtalk.cli._render import Renderer
from realtalk.cli._session import TalkRuntime
from realtalk.cli._talk_audio import AudioOptions, LocalAudio, run_mic, run_typed
from realtalk.cli._talk_remote import RemoteTalk
from realtalk.conversation import Settings
from realtalk.emulator import Emulator, EmulatorOptions
from tests.cli._fake_device import QUIET_MS, FakeDevice, RecordingPlayback, tone
from tests.cli._run import clean_env

PROMPT = b"type a line and press enter"


async def _queued(queue: asyncio.Queue[str]) -> AsyncIterator[str]:
    while True:
        yield await queue.get()


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["ctrl-c", "sigterm", "sighup"],
)
@pytest.mark.parametrize(
    "extra", [(), ("--app-server", "stdio")], ids=["local", "through-app-server"]
)
async def test_a_signal_at_the_prompt_exits_at_once_and_cleanly(
    tmp_path: Path, extra: tuple[str, ...], sig: signal.Signals, code: int
) -> None:
    # A readline blocked in an executor thread used to hold the process after Ctrl-C
    # until the person pressed Enter (asyncio.run waits for executor threads).
    # SIGTERM/SIGHUP (a closed terminal) cancel the run, so it closes its conversation
    # and its files like Ctrl-C does.
    log = tmp_path / "events.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk",
        "talk",
        "--transport",
        "websocket",
        "--events-jsonl",
        str(log),
        *extra,
        stdin=asyncio.subprocess.PIPE,  # open and silent: the prompt waits
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path),
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        async with asyncio.timeout(60):
            seen = b""
            while PROMPT not in seen:
                chunk = await proc.stdout.read(4096)
                assert chunk, f"talk exited before its prompt: {seen!r}"
                seen += chunk
        proc.send_signal(sig)
        async with asyncio.timeout(10):
            _, err = await proc.communicate()
        assert proc.returncode == code
        assert b"Traceback" not in err
        assert log.read_text().endswith("\n")  # every line written whole
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _local_runtime(out: io.StringIO) -> TalkRuntime:
    return TalkRuntime(
        Settings(transport="websocket"),
        renderer=Renderer(Console(file=out, width=200)),
        offline=True,
        fast_emulator_audio=True,
    )


async def test_typed_input_ends_when_the_conversation_closes() -> None:
    out = io.StringIO()
    typed: asyncio.Queue[str] = asyncio.Queue()
    async with await _local_runtime(out) as runtime:
        await runtime.start()
        waiting = asyncio.ensure_future(run_typed(runtime, _queued(typed), timeout=30))
        await typed.put("hello there\n")
        runtime.tracker.expect_turn()
        await runtime.wait_idle(30)
        assert "You said: hello there" in out.getvalue()
        assert not waiting.done()  # waiting for the next line
        assert runtime.manager is not None
        await runtime.manager.close()
        async with asyncio.timeout(10):
            await waiting  # no line needed: the conversation ended


async def test_typed_input_raises_when_the_conversation_fails() -> None:
    async with await _local_runtime(io.StringIO()) as runtime:
        await runtime.start()
        assert runtime.emulator is not None
        waiting = asyncio.ensure_future(run_typed(runtime, _queued(asyncio.Queue()), timeout=30))
        await runtime.emulator.sessions[0].send_event(
            {"type": "error", "error": {"type": "server_error", "message": "model exploded"}}
        )
        with pytest.raises(RealtalkError, match="ended with an error: model exploded"):
            async with asyncio.timeout(10):
                await waiting


@pytest.fixture
async def app_server(tmp_path: Path) -> AsyncIterator[AppServer]:
    emulator = Emulator(EmulatorOptions(audio_realtime=False))
    base = await emulator.start()
    settings = Settings(
        api_key="sk-test-key", base_url=base, startup_context="", transport="websocket"
    )
    server = AppServer(settings, AppServerOptions(default_cwd=tmp_path))
    await server.start_websocket("127.0.0.1", 0)
    yield server
    await server.aclose()
    await emulator.aclose()


async def test_mic_and_speaker_through_the_app_server(app_server: AppServer) -> None:
    """Speech on the fake mic goes out as appendAudio, the app-server's model hears it,
    its answer plays on the speaker, and speaking again clears the speaker (barge-in)."""
    device = FakeDevice(rates=frozenset())  # mic at 48 kHz: exercises resampling
    out = io.StringIO()
    typed: asyncio.Queue[str] = asyncio.Queue()
    async with LocalAudio(
        AudioOptions(mic=True, speaker=True), factory=device.factory, max_mic_queue_ms=10_000
    ) as audio:
        assert audio.mic is not None and audio.speaker is not None
        playback = RecordingPlayback(audio.speaker)
        async with RemoteTalk(Renderer(Console(file=out, width=200)), playback=playback) as talk:
            await talk.connect(app_server.url, None)
            await talk.start({})  # the app-server's defaults
            talking = asyncio.ensure_future(
                run_mic(talk, audio.mic, lines=_queued(typed), quit_on_eof=True)
            )
            mic = device.inputs[0]
            assert await asyncio.to_thread(mic.started.wait, 30)
            talk.tracker.expect_turn()
            await asyncio.to_thread(mic.feed, tone(0.6, rate=48_000) + bytes(48_000 * 2))
            await talk.wait_idle(60)
            async with asyncio.timeout(30):
                await playback.heard.wait()
            assert "you (voice)>" in out.getvalue()
            assert "assistant> You said: (speech" in out.getvalue()
            assert len(playback.buffered_at_interrupt) == 1  # the first words: nothing queued
            assert playback.buffered_at_interrupt[0] <= QUIET_MS

            playback.interrupted.clear()
            await asyncio.to_thread(mic.feed, tone(0.4, rate=48_000))  # barge in
            async with asyncio.timeout(30):
                await playback.interrupted.wait()
            assert playback.buffered_at_interrupt[1] > QUIET_MS  # the answer was cut off

            await typed.put("")  # an empty line quits
            async with asyncio.timeout(10):
                await talking
            assert mic.closed
            await talk.stop()
            assert talk.tracker.closed == "requested"


async def test_typed_input_ends_when_the_app_server_connection_drops(
    app_server: AppServer,
) -> None:
    async with RemoteTalk(Renderer(Console(file=io.StringIO(), width=200))) as talk:
        await talk.connect(app_server.url, None)
        await talk.start({})
        waiting = asyncio.ensure_future(run_typed(talk, _queued(asyncio.Queue()), timeout=30))
        await app_server.aclose()  # the connection goes; no realtime "closed" arrives
        with pytest.raises(RealtalkError, match="app-server closed the connection"):
            async with asyncio.timeout(15):
                await waiting

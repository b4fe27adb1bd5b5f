"""``talk`` when things go wrong: failing outputs, a conversation that ends mid-turn,
a stalled app-server, audio that arrives faster than real time, secrets in debug logs.

Conversations run against the offline emulator (its fault knobs end them) and a real
app-server on 127.0.0.1; command-line runs are real subprocesses.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import logging
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console
from websockets.asyncio.server import ServerConnection, serve

from realtalk import ConfigError, RealtalkError, TransportError
from realtalk.app_server import AppServer, AppServerOptions, Client
from realtalk.cli._jsonl import EventLog
from realtalk.cli._playback import JitterBuffer, Speaker, buffer_policy
from realtalk.cli._render import Renderer
from realtalk.cli._session import TalkRuntime
from realtalk.cli._talk_remote import RemoteTalk
from realtalk.conversation import ConversationEvent, Realtime, Settings
from realtalk.protocol import ResponseCreated
from tests.cli._fake_device import FakeDevice, tone
from tests.cli._run import Run, run_talk
from tests.conftest import EmulatorFactory

GUARD_S = 20.0  # far below any --timeout a test passes: a hang fails the guard
RUN_TIMEOUT = 90.0
TOKEN = "tok-SECRET-4567-never-logged"
MS = 48  # pcm24k bytes per millisecond
FAULT_AFTER = 12  # server events: the session is up and the answer is under way


def _renderer(out: io.StringIO) -> Renderer:
    return Renderer(Console(file=out, width=200))


# -- subprocess helpers -------------------------------------------------------------------


async def _talk(tmp_path: Path, *args: str) -> Run:
    return await run_talk(tmp_path, *args, timeout_s=RUN_TIMEOUT)


def _one_error_line(run: Run) -> str:
    assert run.returncode == 1, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("realtalk: error: ")
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- 1. a failing output must not stall the run -----------------------------------------


class BrokenSpeaker:
    """A sound device that vanished: every call fails."""

    def __init__(self) -> None:
        self.calls = 0

    def play(self, pcm24k: bytes, item_id: str | None = None) -> None:
        self.calls += 1
        raise OSError(errno.EIO, "Input/output error")

    def interrupt(self) -> None:
        self.calls += 1
        raise OSError(errno.EIO, "Input/output error")

    def played_ms(self, item_id: str) -> float | None:
        self.calls += 1
        raise OSError(errno.EIO, "Input/output error")


async def test_a_failing_speaker_is_switched_off_and_the_turn_completes() -> None:
    out = io.StringIO()
    speaker = BrokenSpeaker()
    async with TalkRuntime(
        Settings(transport="websocket"),
        renderer=_renderer(out),
        offline=True,
        fast_emulator_audio=True,
        playback=speaker,
    ) as runtime:
        await runtime.start()
        await runtime.say("hello", timeout=GUARD_S)  # raises if the pump died
        assert "You said: hello" in out.getvalue()
        assert out.getvalue().count("the speaker failed ([Errno 5] Input/output error)") == 1
        assert speaker.calls == 1  # switched off after its first failure
        assert runtime.end_error() is None


class ExplodingRenderer(Renderer):
    """A terminal that went away once the answer starts (e.g. a closed pipe)."""

    def show(self, event: ConversationEvent) -> None:
        if isinstance(event, Realtime) and isinstance(event.payload, ResponseCreated):
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        super().show(event)


async def test_a_failing_renderer_ends_the_turn_with_an_error_at_once() -> None:
    async with TalkRuntime(
        Settings(transport="websocket"),
        renderer=ExplodingRenderer(Console(file=io.StringIO())),
        offline=True,
        fast_emulator_audio=True,
    ) as runtime:
        await runtime.start()
        with pytest.raises(RealtalkError, match="could not handle the conversation's events"):
            async with asyncio.timeout(GUARD_S):  # not the (longer) turn timeout
                await runtime.say("hello", timeout=GUARD_S * 3)
        assert runtime.ended.is_set()  # run_mic and typed input see the end too
        assert (
            runtime.end_error()
            == "could not handle the conversation's events: [Errno 32] Broken pipe"
        )


async def test_audio_out_on_a_full_disk_is_one_line_after_the_turn(tmp_path: Path) -> None:
    run = await _talk(
        tmp_path,
        "--transport",
        "websocket",
        "--text",
        "hello",
        "--audio-out",
        "/dev/full",
        "--timeout",
        str(RUN_TIMEOUT * 2),  # a stalled turn would hit RUN_TIMEOUT first
    )
    assert "You said: hello" in run.stdout
    line = _one_error_line(run)
    assert line.startswith("realtalk: error: cannot write --audio-out /dev/full: ")
    assert "No space left on device" in line


async def test_remote_audio_out_on_a_full_disk_is_a_config_error(
    app_server: AppServer,
) -> None:
    out = io.StringIO()
    talk = RemoteTalk(_renderer(out), audio_out="/dev/full")
    with pytest.raises(ConfigError, match="cannot write --audio-out /dev/full: .*No space left"):
        async with talk:
            await talk.connect(app_server.url, None)
            await talk.start({})
            await talk.say("hello", timeout=GUARD_S)
            await talk.stop()
    assert "You said: hello" in out.getvalue()


@pytest.mark.parametrize("remote", [False, True], ids=["local", "through-app-server"])
async def test_audio_out_that_is_a_directory_is_one_clean_line(
    tmp_path: Path, *, remote: bool
) -> None:
    where = ("--app-server", f"ws://127.0.0.1:{_closed_port()}") if remote else ()
    run = await _talk(
        tmp_path, *where, "--transport", "websocket", "--text", "hi", "--audio-out", str(tmp_path)
    )
    line = _one_error_line(run)  # no "Exception ignored in Wave_write.__del__" traceback
    assert line.startswith(f"realtalk: error: cannot write --audio-out {tmp_path}: ")


# -- 2. a conversation that ends during a turn fails the turn ---------------------------


@pytest.fixture
async def app_server(emulator_factory: EmulatorFactory, tmp_path: Path) -> AsyncIterator[AppServer]:
    emulator = await emulator_factory()
    server = await _app_server(tmp_path, emulator.base_url)
    yield server
    await server.aclose()


async def _app_server(
    tmp_path: Path, base_url: str, *, auth_token: str | None = None, reconnect: bool = True
) -> AppServer:
    settings = Settings(
        api_key="sk-test-key",
        base_url=base_url,
        startup_context="",
        transport="websocket",
        reconnect_max_retries=6 if reconnect else 0,
    )
    server = AppServer(settings, AppServerOptions(default_cwd=tmp_path))
    await server.start_websocket("127.0.0.1", 0, auth_token=auth_token)
    return server


# Without reconnecting (reconnect_max_retries = 0); with it, a lost session is re-opened
# (tests/conversation/test_reconnect.py, tests/cli/test_talk_reconnect.py).
FAULTS = [
    pytest.param("close_after_events", "transport_closed", "", id="closed"),
    pytest.param("error_after_events", "error", "Emulator fault injection", id="error"),
]


@pytest.mark.parametrize(("fault", "reason", "detail"), FAULTS)
async def test_local_turn_fails_when_the_conversation_ends_during_it(
    emulator_factory: EmulatorFactory, fault: str, reason: str, detail: str
) -> None:
    emulator = await emulator_factory(**{fault: FAULT_AFTER})
    settings = Settings(
        api_key="sk-test-key",
        base_url=emulator.base_url,
        startup_context="",
        transport="websocket",
        reconnect_max_retries=0,
    )
    async with TalkRuntime(settings, renderer=_renderer(io.StringIO()), offline=False) as runtime:
        await runtime.start()
        with pytest.raises(RealtalkError, match=rf"the conversation ended \({reason}\).*{detail}"):
            await runtime.say("hello", timeout=GUARD_S)


@pytest.mark.parametrize(("fault", "reason", "detail"), FAULTS)
async def test_remote_turn_fails_when_the_conversation_ends_during_it(
    emulator_factory: EmulatorFactory, tmp_path: Path, fault: str, reason: str, detail: str
) -> None:
    emulator = await emulator_factory(**{fault: FAULT_AFTER})
    server = await _app_server(tmp_path, emulator.base_url, reconnect=False)
    try:
        async with RemoteTalk(_renderer(io.StringIO())) as talk:
            await talk.connect(server.url, None)
            await talk.start({})
            with pytest.raises(
                RealtalkError, match=rf"the conversation ended \({reason}\).*{detail}"
            ):
                await talk.say("hello", timeout=GUARD_S)
    finally:
        await server.aclose()


# -- 3. and 4. the app-server client: no token in debug logs, clear timeouts -------------


async def test_debug_logs_never_show_the_app_server_token(
    emulator_factory: EmulatorFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = await emulator_factory()
    server = await _app_server(tmp_path, emulator.base_url, auth_token=TOKEN)
    try:
        async with await Client.connect(server.url, token=TOKEN) as client:
            await client.initialize("realtalk_test", experimental_api=True)
    finally:
        await server.aclose()
    handshake = [r.getMessage() for r in caplog.records if "websocket handshake" in r.getMessage()]
    assert any("'Authorization': '[redacted]'" in m for m in handshake), handshake  # was logged
    assert TOKEN not in caplog.text


async def test_a_stalled_app_server_is_a_clear_realtalk_error() -> None:
    async def never_answers(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    async with serve(never_answers, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with await Client.connect(f"ws://127.0.0.1:{port}") as client:
            with pytest.raises(
                TransportError, match=r"^the app-server did not answer initialize within 0.2s$"
            ):
                async with asyncio.timeout(GUARD_S):
                    await client.request_raw("initialize", {}, timeout=0.2)


# -- 5. audio that arrives faster than real time ---------------------------------------


def _burst(buf: JitterBuffer, audio: bytes, *, speedup: int) -> bytes:
    """Deliver ``audio`` at ``speedup`` x real time while a sound card reads 20 ms per tick."""
    step = 20 * MS
    chunks = [audio[i : i + step] for i in range(0, len(audio), step)]
    played = bytearray()
    while chunks or buf.buffered_ms > 0:
        for _ in range(speedup):
            if chunks:
                buf.push(chunks.pop(0))
        played += buf.read(step)
    return bytes(played)


# An answer with a pause in it: 2 s of speech, 0.5 s of silence, 3.5 s of speech.
ANSWER = tone(2.0) + bytes(500 * MS) + tone(3.5, hz=440)


def test_unpaced_buffer_plays_a_4x_burst_whole() -> None:
    max_ms, skip_quiet_ms = buffer_policy(paced=False)
    buf = JitterBuffer(max_ms=max_ms, skip_quiet_ms=skip_quiet_ms)
    played = _burst(buf, ANSWER, speedup=4)
    assert buf.dropped_bytes == 0 and buf.skipped_bytes == 0
    assert ANSWER in played  # every sample, in order, the pause included


def test_paced_buffer_keeps_its_latency_limits() -> None:
    # The WebRTC policy: a track that runs ahead is cut back (and its silence skipped).
    max_ms, skip_quiet_ms = buffer_policy(paced=True)
    buf = JitterBuffer(max_ms=max_ms, skip_quiet_ms=skip_quiet_ms)
    played = _burst(buf, ANSWER, speedup=4)
    assert buf.dropped_bytes > 0 and buf.skipped_bytes > 0
    assert ANSWER not in played


async def test_speaker_for_an_unpaced_source_holds_the_whole_burst() -> None:
    speaker = Speaker(FakeDevice(), prefill_ms=0)
    speaker.open()
    try:
        speaker.set_paced(paced=False)
        speaker.play(ANSWER)  # 6 s at once, as a WebSocket may deliver it
        assert speaker.buffer.buffered_ms == pytest.approx(len(ANSWER) / MS)
        assert speaker.buffer.dropped_bytes == 0
    finally:
        speaker.close()


# -- 6. --events-jsonl is on disk as it goes; a failing file is one error ---------------


def test_events_jsonl_lines_reach_the_disk_as_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    try:
        log("out", b'{"type":"session.update"}')
        # Read while the log is still open: a killed run keeps what was written.
        assert json.loads(path.read_text())["event"] == {"type": "session.update"}
    finally:
        log.close()


def test_events_jsonl_on_a_full_disk_is_one_config_error() -> None:
    log = EventLog("/dev/full")
    log("out", b'{"type":"session.update"}')  # a failing write never breaks the wire
    log("in", b'{"type":"session.updated"}')
    with pytest.raises(ConfigError, match="cannot write --events-jsonl /dev/full: .*No space"):
        log.close()
    log.close()  # reported once


async def test_a_failing_events_log_does_not_skip_closing_the_audio_file(tmp_path: Path) -> None:
    wav = tmp_path / "out.wav"
    runtime = TalkRuntime(
        Settings(transport="websocket"),
        renderer=_renderer(io.StringIO()),
        offline=True,
        fast_emulator_audio=True,
        events_jsonl="/dev/full",
        audio_out=str(wav),
    )
    with pytest.raises(ConfigError, match="cannot write --events-jsonl /dev/full"):
        async with runtime:
            await runtime.start()
            await runtime.say("hello", timeout=GUARD_S)
    with wave.open(str(wav), "rb") as r:  # the header was finished: the file is whole
        assert r.getnframes() > 0
        assert r.getnframes() * 2 == wav.stat().st_size - 44

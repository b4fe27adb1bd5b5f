"""``realtalk talk --app-server URL``: the CLI as a client of a real app-server.

The emulator and the app-server's WebSocket listener run in this test's event
loop on 127.0.0.1; ``realtalk talk`` runs as a real subprocess against them.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from realtalk import ConfigError
from realtalk.app_server import (
    AgentMessageItem,
    AppServer,
    AppServerOptions,
    ItemCompletedNotification,
    ThreadRealtimeClosedNotification,
    ThreadRealtimeItemAddedNotification,
    ThreadRealtimeTranscriptDoneNotification,
    Turn,
    TurnCompletedNotification,
    TurnStartedNotification,
)
from realtalk.cli._remote_events import RemoteTracker, elide_rpc_audio, parse_app_server_target
from realtalk.conversation import Settings
from realtalk.emulator import Emulator, EmulatorOptions
from tests.cli._run import Run, run_talk

RUN_TIMEOUT = 60.0
TOKEN = "s3cret-app-server-token"


async def _talk(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return await run_talk(tmp_path, *args, env=env, timeout_s=RUN_TIMEOUT)


def _assert_one_line_error(run: Run) -> None:
    assert run.returncode == 1, run
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("realtalk: error:")


class Stack(NamedTuple):
    emulator: Emulator
    server: AppServer


async def _start_stack(tmp_path: Path, *, auth_token: str | None = None) -> Stack:
    emulator = Emulator(EmulatorOptions(audio_realtime=False))
    base = await emulator.start()
    settings = Settings(
        api_key="sk-test-key", base_url=base, startup_context="", transport="websocket"
    )
    server = AppServer(settings, AppServerOptions(default_cwd=tmp_path))
    await server.start_websocket("127.0.0.1", 0, auth_token=auth_token)
    return Stack(emulator, server)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    started = await _start_stack(tmp_path)
    yield started
    await started.server.aclose()
    await started.emulator.aclose()


@pytest.fixture
async def guarded_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    started = await _start_stack(tmp_path, auth_token=TOKEN)
    yield started
    await started.server.aclose()
    await started.emulator.aclose()


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _methods(lines: list[dict[str, Any]], direction: str) -> list[str]:
    return [str(line["event"].get("method")) for line in lines if line["dir"] == direction]


async def test_text_one_shot_through_the_app_server(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "rpc.jsonl"
    run = await _talk(
        tmp_path, "--app-server", stack.server.url, "--text", "hello", "--events-jsonl", str(log)
    )
    assert run.returncode == 0, run.stderr
    assert "You said: hello" in run.stdout
    assert "Traceback" not in run.stderr
    lines = _events(log)
    out = _methods(lines, "out")
    assert out[:3] == ["initialize", "initialized", "thread/start"]
    init = lines[0]["event"]
    assert init["params"]["capabilities"]["experimentalApi"] is True
    start = next(e["event"] for e in lines if e["event"].get("method") == "thread/realtime/start")
    assert start["params"]["transport"] == {"type": "websocket"}
    # The typed line is appended, then a response is asked for, then the stop.
    text = out.index("thread/realtime/appendText")
    assert out.index("thread/realtime/requestResponse") > text
    assert out[-1] == "thread/realtime/stop"
    dones = [
        e["event"]["params"]
        for e in lines
        if e["dir"] == "in" and e["event"].get("method") == "thread/realtime/transcript/done"
    ]
    assert {"role": "assistant", "text": "You said: hello"} in [
        {"role": d["role"], "text": d["text"]} for d in dones
    ]
    audio = [
        e["event"]["params"]["audio"]["data"]
        for e in lines
        if e["event"].get("method") == "thread/realtime/outputAudio/delta"
    ]
    assert audio and all(a.endswith("bytes base64>") for a in audio)


def _write_speech_wav(path: Path, seconds: float = 0.6) -> None:
    rate = 24000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 300 * i / rate)))
                for i in range(int(rate * seconds))
            )
        )


async def test_audio_in_and_out_through_the_app_server(stack: Stack, tmp_path: Path) -> None:
    src, out, log = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "rpc.jsonl"
    _write_speech_wav(src)
    run = await _talk(
        tmp_path,
        "--app-server",
        stack.server.url,
        "--audio-in",
        str(src),
        "--audio-out",
        str(out),
        "--events-jsonl",
        str(log),
    )
    assert run.returncode == 0, run.stderr
    assert "you (voice)>" in run.stdout
    assert "assistant> You said: (speech" in run.stdout
    with wave.open(str(out), "rb") as r:
        assert (r.getframerate(), r.getnchannels()) == (24000, 1)
        assert r.getnframes() > 0
    appends = [
        e["event"]["params"]["audio"]
        for e in _events(log)
        if e["event"].get("method") == "thread/realtime/appendAudio"
    ]
    # 0.6 s of tone + 1 s of trailing silence in 20 ms frames, audio elided.
    assert len(appends) == 80
    assert all(a["data"] == "<1280 bytes base64>" for a in appends)
    assert {(a["sampleRate"], a["numChannels"], a["samplesPerChannel"]) for a in appends} == {
        (24000, 1, 480)
    }


async def test_stdio_spawns_an_app_server_with_the_offline_emulator(tmp_path: Path) -> None:
    run = await _talk(
        tmp_path, "--app-server", "stdio", "--text", "hello", "--output-modality", "text"
    )
    assert run.returncode == 0, run.stderr
    assert "offline emulator" in run.stdout
    assert "You said: hello" in run.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_refused_connection_is_one_clear_line(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{_closed_port()}"
    run = await _talk(tmp_path, "--app-server", url, "--text", "hi")
    _assert_one_line_error(run)
    assert url in run.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "ws://127.0.0.1:99999"])
async def test_bad_url_is_one_clear_line(tmp_path: Path, url: str) -> None:
    run = await _talk(tmp_path, "--app-server", url, "--text", "hi")
    _assert_one_line_error(run)
    assert "--app-server" in run.stderr


async def test_wrong_token_is_one_clear_line(guarded_stack: Stack, tmp_path: Path) -> None:
    url = guarded_stack.server.url
    run = await _talk(tmp_path, "--app-server", url, "--app-server-token", "wrong", "--text", "hi")
    _assert_one_line_error(run)
    assert "401" in run.stderr
    assert "--app-server-token" in run.stderr
    assert "wrong" not in run.stderr.replace("--app-server-token", "")
    missing = await _talk(tmp_path, "--app-server", url, "--text", "hi")
    _assert_one_line_error(missing)


async def test_token_from_the_environment(guarded_stack: Stack, tmp_path: Path) -> None:
    run = await _talk(
        tmp_path,
        "--app-server",
        guarded_stack.server.url,
        "--text",
        "hello",
        env={"REALTALK_APP_SERVER_TOKEN": TOKEN},
    )
    assert run.returncode == 0, run.stderr
    assert "You said: hello" in run.stdout


# -- pure helpers -----------------------------------------------------------------------

T = "thr_1"


def _said(role: str = "assistant") -> tuple[str, Any]:
    return (
        "thread/realtime/transcript/done",
        ThreadRealtimeTranscriptDoneNotification(thread_id=T, role=role, text="x"),  # type: ignore[arg-type]
    )


def _item(item: dict[str, Any]) -> tuple[str, Any]:
    return "thread/realtime/itemAdded", ThreadRealtimeItemAddedNotification(thread_id=T, item=item)


def _turn(method: str, status: str = "inProgress") -> tuple[str, Any]:
    turn = Turn(id="turn_1", status=status)  # type: ignore[arg-type]
    if method == "turn/started":
        return method, TurnStartedNotification(thread_id=T, turn=turn)
    return method, TurnCompletedNotification(thread_id=T, turn=turn)


AGENT_SAYS = (
    "item/completed",
    ItemCompletedNotification(
        thread_id=T, turn_id="turn_1", item=AgentMessageItem(id="i", text="done")
    ),
)
HANDOFF = _item({"type": "handoff_request", "handoff_id": "h"})


def _idle_after(*steps: tuple[str, Any]) -> list[bool]:
    tracker = RemoteTracker()
    tracker.expect_turn()
    idle = []
    for method, params in steps:
        tracker.observe(method, params)
        idle.append(tracker.idle.is_set())
    return idle


def test_tracker_plain_answer_is_idle_after_the_assistant_transcript() -> None:
    assert _idle_after(_said("user"), _said()) == [False, True]


def test_tracker_waits_for_the_agent_and_its_spoken_result() -> None:
    steps = [HANDOFF, _turn("turn/started"), _said(), AGENT_SAYS]
    steps += [_turn("turn/completed", "completed"), _said()]
    assert _idle_after(*steps) == [False, False, False, False, False, True]


def test_tracker_a_silent_agent_ends_with_its_turn_after_an_answer() -> None:
    steps = [_said(), HANDOFF, _turn("turn/started"), _turn("turn/completed", "completed")]
    assert _idle_after(*steps) == [True, False, False, True]


def test_tracker_a_failed_turn_is_spoken_back() -> None:
    steps = [HANDOFF, _turn("turn/started"), _turn("turn/completed", "failed"), _said()]
    assert _idle_after(*steps) == [False, False, False, True]


def test_tracker_cancelled_silent_and_closed_end_a_turn() -> None:
    assert _idle_after(_item({"type": "response.cancelled"})) == [True]
    silent = _item({"type": "function_call", "name": "remain_silent"})
    assert _idle_after(_item({"type": "function_call", "name": "other"}), silent) == [False, True]
    tracker = RemoteTracker()
    tracker.expect_turn()
    tracker.observe(
        "thread/realtime/closed", ThreadRealtimeClosedNotification(thread_id=T, reason="error")
    )
    assert tracker.idle.is_set() and tracker.errored.is_set() and tracker.closed == "error"


def test_elide_rpc_audio_keeps_everything_but_the_samples() -> None:
    frame = {
        "id": 7,
        "method": "thread/realtime/appendAudio",
        "params": {"threadId": T, "audio": {"data": "AAAA" * 10, "sampleRate": 24000}},
    }
    elided = json.loads(elide_rpc_audio(json.dumps(frame).encode()))
    assert elided["params"]["audio"] == {"data": "<40 bytes base64>", "sampleRate": 24000}
    assert {k: v for k, v in elided.items() if k != "params"} == {
        "id": 7,
        "method": frame["method"],
    }
    other = json.dumps({"method": "x", "params": {"audio": {"data": "AAAA"}}}).encode()
    assert elide_rpc_audio(other) == other
    assert elide_rpc_audio(b"not json") == b"not json"


def test_parse_app_server_target() -> None:
    assert parse_app_server_target("stdio") is None
    assert parse_app_server_target("ws://127.0.0.1:8765") == "ws://127.0.0.1:8765"
    for bad in ("ws://", "tcp://h:1", "ws://[::1", "ws://h:70000"):
        with pytest.raises(ConfigError, match="--app-server"):
            parse_app_server_target(bad)

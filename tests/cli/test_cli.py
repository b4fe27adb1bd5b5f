"""The ``realtalk`` command as a user runs it: real subprocesses, offline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import wave
from pathlib import Path

import pytest


def _run(
    *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realtalk", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
def test_talk_text_one_shot_offline(transport: str, version: str) -> None:
    # The turn ends on the version's own events (v1 has no response.done), well
    # before the timeout: a turn that never ended would exit 1 after 20 s.
    result = _run(
        "talk", "--text", "hello", "--transport", transport, "--version", version, "--timeout", "20"
    )
    assert result.returncode == 0, result.stderr
    assert "offline emulator" in result.stdout
    assert "You said: hello" in result.stdout
    assert "Traceback" not in result.stderr


def test_demo_runs_offline_and_logs_the_handoff(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    result = _run("demo", "--transport", "websocket", "--events-jsonl", str(log), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "handoff>" in result.stdout
    assert "<realtime_delegation>" not in result.stdout  # the person's words, not the markup
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all({"t", "dir", "event"} <= set(line) for line in lines)
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    out = [line["event"] for line in lines if line["dir"] == "out"]
    inbound = [line["event"] for line in lines if line["dir"] == "in"]
    assert any(
        e.get("type") == "conversation.item.done" and e["item"].get("name") == "background_agent"
        for e in inbound
    )
    outputs = [
        i for i, e in enumerate(out) if e.get("item", {}).get("type") == "function_call_output"
    ]
    assert outputs, "the completion acknowledgement was not sent"
    assert any(e.get("type") == "response.create" for e in out[outputs[-1] :])
    # Audio payloads are elided to their length.
    appends = [e for e in inbound if e.get("type") == "response.output_audio.delta"]
    assert appends and all(e["delta"].endswith("bytes base64>") for e in appends)


def test_talk_shows_a_delegation_as_the_words_said_once() -> None:
    result = _run("talk", "--transport", "websocket", "--text", "agent, run `echo a<b`")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "handoff> agent, run `echo a<b`" in lines
    assert sum(line.startswith("you> ") for line in lines) == 1
    assert "agent> I ran `echo 'a<b'`. It printed: a<b" in lines
    for markup in ("<realtime_delegation>", "<input>", "transcript_delta", "&lt;"):
        assert markup not in result.stdout


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
def test_demo_v1_finishes_every_turn(transport: str) -> None:
    result = _run(
        "demo", "--version", "v1", "--transport", transport, "--timeout", "30", timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "connected (realtime v1" in result.stdout
    assert "handoff>" in result.stdout
    assert "It printed: realtalk handoff works" in result.stdout
    assert result.stdout.rstrip().endswith("demo finished")


def test_refused_connection_is_one_clear_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _run(
        "talk",
        "--text",
        "hi",
        "--transport",
        "websocket",
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        env={"OPENAI_API_KEY": "sk-cli-secret"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "could not connect to the realtime server" in result.stderr
    assert "sk-cli-secret" not in result.stderr + result.stdout


def test_bad_url_is_one_clear_line() -> None:
    result = _run(
        "talk",
        "--text",
        "hi",
        "--transport",
        "websocket",
        "--base-url",
        "ftp://example.invalid/v1",
        env={"OPENAI_API_KEY": "sk-x"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("realtalk: error:")
    assert "ftp" in result.stderr


def test_bad_wav_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not a wav file")
    result = _run("talk", "--audio-in", str(bad), "--transport", "websocket")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bad.wav" in result.stderr
    assert "offline emulator" not in result.stdout  # refused before any network work


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("bench", "relay", "--sessions", "0"), "--sessions: must be at least 1, got 0"),
        (("bench", "app-server", "--seconds", "-1"), "--seconds: must be more than 0"),
        (("bench", "startup", "--call-latency-ms", "x"), "expected a whole number, got 'x'"),
        (("talk", "--timeout", "0"), "--timeout: must be more than 0"),
    ],
)
def test_values_that_would_hang_or_measure_nothing_are_refused(
    argv: tuple[str, ...], message: str
) -> None:
    result = _run(*argv, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr


def test_audio_in_and_out_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        import math
        import struct

        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 300 * i / 16000)))
            for i in range(16000)  # 1 s of "speech"
        )
        w.writeframes(frames)
    out = tmp_path / "out.wav"
    result = _run(
        "talk",
        "--audio-in",
        str(src),
        "--audio-out",
        str(out),
        "--transport",
        "websocket",
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "you (voice)>" in result.stdout
    with wave.open(str(out), "rb") as r:
        assert r.getframerate() == 24000
        assert r.getnframes() > 0


def test_talk_against_tls_emulator_needs_the_ca_variable() -> None:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "realtalk", "emulator", "--port", "0", "--tls", "--fast-audio"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        ready = emulator.stdout.readline().split()
        ca = emulator.stdout.readline().split()
        assert ready[0] == "READY" and ready[1].startswith("https://")
        assert ca[0] == "CA"
        args = ("talk", "--text", "hello", "--transport", "websocket", "--base-url", ready[1])
        env = {"OPENAI_API_KEY": "sk-tls"}
        trusted = _run(*args, env={**env, "REALTALK_CA_CERTIFICATE": ca[1]})
        assert trusted.returncode == 0, trusted.stderr
        assert "You said: hello" in trusted.stdout
        untrusted = _run(*args, env=env)
        assert untrusted.returncode == 1
        assert "Traceback" not in untrusted.stderr
        assert "REALTALK_CA_CERTIFICATE" in untrusted.stderr
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

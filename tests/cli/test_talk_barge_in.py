"""Barge-in through the CLI, as a person does it: speak, pause, speak over the answer.

``realtalk talk --audio-in WAV --audio-out OUT --events-jsonl LOG`` against the
emulator on loopback (its VAD takes a frame as speech when its RMS is >= 500, and ends
an utterance after 500 ms of quiet; see ``realtalk.emulator._audio``). The second
utterance starts while the first answer plays, so the client must truncate *the
assistant item* at the position ``--audio-out``'s virtual speaker had played.
"""

from __future__ import annotations

import json
import math
import struct
import wave
from pathlib import Path
from typing import Any

from realtalk.emulator import Emulator, EmulatorOptions

from ._run import run_talk

RATE = 24_000
LONG_ANSWER = " ".join(["word"] * 40)  # "You said: ..." is 42 words: 1.88 s of speech


def _tone(seconds: float) -> bytes:
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 300 * i / RATE)))
        for i in range(int(RATE * seconds))
    )


def _silence(seconds: float) -> bytes:
    return bytes(2 * int(RATE * seconds))


def _write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _audio_ms(event: dict[str, Any]) -> float:
    # The log elides audio to "<N bytes base64>"; N base64 characters hold 3N/4 bytes.
    chars = int(event["delta"].removeprefix("<").split()[0])
    return chars * 3 / 4 / 48


async def test_speaking_over_the_answer_truncates_it_where_it_was_heard(tmp_path: Path) -> None:
    wav, out, log = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "events.jsonl"
    # Speech, a pause long enough to end the turn, then speech again ~0.5 s into the answer.
    _write_wav(wav, _tone(0.5) + _silence(1.0) + _tone(0.5))
    options = EmulatorOptions(speech_transcripts=(LONG_ANSWER, "stop"))
    async with Emulator(options) as emulator:
        await emulator.start()
        run = await run_talk(
            tmp_path,
            "--transport",
            "websocket",
            "--base-url",
            emulator.base_url,
            "--audio-in",
            str(wav),
            "--audio-out",
            str(out),
            "--events-jsonl",
            str(log),
            "--timeout",
            "30",
            env={"OPENAI_API_KEY": "sk-barge-in"},
        )
    assert run.returncode == 0, run.stderr
    lines = _log(log)
    inbound = [(line["t"], line["event"]) for line in lines if line["dir"] == "in"]
    sent = [line["event"] for line in lines if line["dir"] == "out"]

    starts = [e for _, e in inbound if e["type"] == "input_audio_buffer.speech_started"]
    assert len(starts) == 2
    audio: dict[str, list[tuple[float, float]]] = {}
    for t, e in inbound:
        if e["type"] == "response.output_audio.delta":
            audio.setdefault(e["item_id"], []).append((t, _audio_ms(e)))
    first_item, second_item = list(audio)
    (truncate,) = [e for e in sent if e["type"] == "conversation.item.truncate"]
    # The assistant item that was playing, not the new user item speech_started names.
    assert truncate["item_id"] == first_item != starts[1]["item_id"]

    barge_in_at = next(t for t, e in inbound if e is starts[1])
    heard_ms = barge_in_at - audio[first_item][0][0]  # real-time playback since it began
    received_ms = sum(ms for t, ms in audio[first_item] if t <= barge_in_at)
    # Never past what had arrived (a client slowed by load clamps to exactly that).
    assert 0 < truncate["audio_end_ms"] <= received_ms <= 1880
    assert abs(truncate["audio_end_ms"] - heard_ms) < 150

    # The WAV holds what was played: the first answer cut there, then the whole second.
    with wave.open(str(out), "rb") as r:
        out_ms = r.getnframes() / RATE * 1000
    second_ms = sum(ms for _, ms in audio[second_item])
    assert abs(out_ms - (truncate["audio_end_ms"] + second_ms)) < 150
    assert "assistant> You said: stop" in run.stdout

"""Done-when of offline speech: a spoken request reaches the agent, the answer is spoken.

``realtalk talk --audio-in q.wav --audio-out a.wav`` with no API key, where q.wav is
espeak-ng saying "agent, list the files": the emulator recognises the request, the
model delegates it to the agent, and a.wav holds speech as long as the answer needs,
not a beep. Default transport (WebRTC): the answer comes back on the media track.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import pytest
from rich.console import Console

from realtalk.cli._render import Renderer
from realtalk.cli._session import TalkRuntime
from realtalk.cli._talk_audio import AudioOptions, LocalAudio, run_mic
from realtalk.conversation import Settings
from realtalk.transports import read_wav_pcm24k
from tests.cli._fake_device import FakeDevice

from .._speech import envelope_variation, espeak_pcm24k, espeak_wav, pitch_changes, voiced_span_s
from ._run import run_talk


def _inbound(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [line["event"] for line in lines if line["dir"] == "in"]


async def test_spoken_request_offline_is_delegated_and_answered_in_speech(
    tmp_path: Path,
) -> None:
    question = espeak_wav(tmp_path / "q.wav", "agent, list the files")
    answer_wav = tmp_path / "a.wav"
    log = tmp_path / "events.jsonl"
    workspace = tmp_path / "work"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("remember the milk\n")

    run = await run_talk(
        tmp_path,
        "--audio-in",
        str(question),
        "--audio-out",
        str(answer_wav),
        "--events-jsonl",
        str(log),
        cwd=workspace,
        timeout_s=150,
    )

    assert run.returncode == 0, run.stderr
    assert "offline emulator" in run.stdout
    assert "you (voice)> Agent, list the files." in run.stdout
    events = _inbound(log)
    transcripts = [
        e["transcript"]
        for e in events
        if e.get("type") == "conversation.item.input_audio_transcription.completed"
    ]
    assert transcripts == ["Agent, list the files."]
    calls = [
        e["item"]
        for e in events
        if e.get("type") == "conversation.item.done" and e["item"].get("type") == "function_call"
    ]
    assert [c["name"] for c in calls] == ["background_agent"]
    assert json.loads(calls[0]["arguments"]) == {"prompt": "Agent, list the files."}
    spoken = [
        e["transcript"] for e in events if e.get("type") == "response.output_audio_transcript.done"
    ]
    assert len(spoken) == 1 and spoken[0].startswith("The agent says:")

    # a.wav holds speech whose length follows the answer: compare with espeak-ng
    # reading the same text on its own (the emulator speaks a little slower).
    pcm = read_wav_pcm24k(answer_wav)
    reference = read_wav_pcm24k(espeak_wav(tmp_path / "ref.wav", spoken[0]))
    answer_s, reference_s = voiced_span_s(pcm), voiced_span_s(reference)
    assert reference_s > 2.0
    assert 0.7 * reference_s < answer_s < 1.5 * reference_s, (answer_s, reference_s)
    # Speech, not a tone: loudness follows syllables and pauses, the pitch moves.
    assert envelope_variation(pcm) > 0.4
    assert pitch_changes(pcm) >= 5


async def _no_lines() -> AsyncIterator[str]:
    await asyncio.Event().wait()
    yield ""  # pragma: no cover - never reached


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_spoken_request_on_the_microphone_reaches_the_agent_offline(
    tmp_path: Path, transport: Literal["websocket", "webrtc"]
) -> None:
    """``talk --mic`` offline: words said into the (in-memory) microphone are recognised."""
    device = FakeDevice()
    out = io.StringIO()
    spoken = espeak_pcm24k(tmp_path, "ask the agent to list the files") + bytes(48_000 * 2)
    async with (
        LocalAudio(
            AudioOptions(mic=True, speaker=False), factory=device.factory, max_mic_queue_ms=10_000
        ) as audio,
        TalkRuntime(
            Settings(transport=transport),
            renderer=Renderer(Console(file=out, width=200)),
            offline=True,
            fast_emulator_audio=True,
        ) as runtime,
    ):
        assert audio.mic is not None
        await runtime.start()
        talking = asyncio.ensure_future(
            run_mic(runtime, audio.mic, lines=_no_lines(), quit_on_eof=False)
        )
        try:
            mic = device.inputs[0]
            assert await asyncio.to_thread(mic.started.wait, 30)
            assert mic.samplerate == 24_000
            runtime.tracker.expect_turn()
            await asyncio.to_thread(mic.feed, spoken)
            await runtime.wait_idle(40)
        finally:
            talking.cancel()
            await asyncio.gather(talking, return_exceptions=True)
        assert runtime.manager is not None
        await runtime.manager.close()
    screen = out.getvalue()
    assert "you (voice)> Ask the agent to list the files." in screen
    assert "handoff>" in screen

"""Offline speech in the emulator: spoken questions are recognised, answers are spoken.

Questions are real speech made by espeak-ng; answers are measured as audio (length,
loudness envelope, pitch movement) with the independent measures in ``tests/_speech``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from realtalk.emulator import Emulator, ScriptedModel
from realtalk.emulator._asr import (
    MAX_UTTERANCE_S,
    SpeechRecognizer,
    format_transcript,
    speech_like,
)
from realtalk.emulator._audio import TONE_CHUNK, VadAction
from realtalk.emulator._inputs import PRE_ROLL_MS, InputBuffer
from realtalk.emulator._speech import split_chunks
from realtalk.emulator._tts import SpeechSynthesizer, espeak_voice
from realtalk.emulator._wire import IdFactory

from .._speech import envelope_variation, espeak_pcm24k, pitch_changes, voiced_span_s
from ._calls_support import connected, next_event
from ._client import HANDOFF_TOOLS, append_events, open_client, pcm_tone, user_text
from ._scenarios import start_v2, url
from .test_v1_flows import start_v1, v1_url

JsonDict = dict[str, Any]
SILENCE_1S = bytes(48_000)


def _pcm_of(events: list[JsonDict]) -> bytes:
    return b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )


# --------------------------------------------------------------------- recognition


@pytest.mark.parametrize(
    ("spoken", "transcript", "tool"),
    [
        ("agent, list the files", "Agent, list the files.", "background_agent"),
        ("ask the agent to run the tests", "Ask the agent to run the tests.", "background_agent"),
        ("stay silent", "Stay silent.", "remain_silent"),
    ],
)
async def test_spoken_command_reaches_the_scripted_model(
    emulator: Emulator, tmp_path: Path, spoken: str, transcript: str, tool: str
) -> None:
    pcm = espeak_pcm24k(tmp_path, spoken) + SILENCE_1S
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        for event in append_events(pcm):
            await client.send(event)
        events = await client.until("response.done", timeout=20)
    completed = next(
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert completed["transcript"] == transcript
    user_item = next(
        e["item"]
        for e in events
        if e["type"] == "conversation.item.done" and e["item"].get("role") == "user"
    )
    assert user_item["content"][0]["transcript"] == transcript
    call = events[-1]["response"]["output"][0]
    assert (call["type"], call["name"]) == ("function_call", tool)
    if tool == "background_agent":
        assert json.loads(call["arguments"]) == {"prompt": transcript}


async def test_free_speech_falls_back_to_dictation(emulator: Emulator, tmp_path: Path) -> None:
    pcm = espeak_pcm24k(tmp_path, "please open the window") + SILENCE_1S
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        for event in append_events(pcm):
            await client.send(event)
        events = await client.until("response.done", timeout=20)
    completed = next(
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert completed["transcript"] == "Please open the window."
    said = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert said["transcript"] == "You said: Please open the window."


async def test_speech_after_a_long_silence_is_still_heard(
    emulator: Emulator, tmp_path: Path
) -> None:
    # More silence than the recogniser keeps (15 s) before the question.
    pcm = bytes(48_000 * 20) + espeak_pcm24k(tmp_path, "stay silent") + SILENCE_1S
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        for event in append_events(pcm, chunk_ms=500):
            await client.send(event)
        events = await client.until(
            "conversation.item.input_audio_transcription.completed", timeout=20
        )
    assert events[-1]["transcript"] == "Stay silent."


def test_recognition_audio_starts_just_before_speech() -> None:
    buffer = InputBuffer(IdFactory(), transcripts=())
    buffer.append(bytes(48_000 * 20), vad=True)
    assert len(buffer.audio) == MAX_UTTERANCE_S * 48_000  # a bounded rolling window
    updates = buffer.append(pcm_tone(1000), vad=True)
    assert [u.action for u in updates] == [VadAction.SPEECH_STARTED]
    buffer.speech_started_event(updates[0].at_ms)
    assert len(buffer.audio) == (PRE_ROLL_MS + 1000) * 48


async def test_manual_commit_is_recognised(emulator: Emulator, tmp_path: Path) -> None:
    session = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    async with open_client(url(emulator)) as client:
        await start_v2(client, session)
        for event in append_events(espeak_pcm24k(tmp_path, "run the tests")):
            await client.send(event)
        await client.send({"type": "input_audio_buffer.commit"})
        events = await client.until(
            "conversation.item.input_audio_transcription.completed", timeout=20
        )
    assert events[0]["type"] == "input_audio_buffer.committed"
    assert events[-1]["transcript"] == "Run the tests."


async def test_v1_spoken_request_asks_for_a_handoff(emulator: Emulator, tmp_path: Path) -> None:
    pcm = espeak_pcm24k(tmp_path, "ask the agent to run the tests") + SILENCE_1S
    async with open_client(v1_url(emulator)) as client:
        await start_v1(client)
        for event in append_events(pcm):
            await client.send(event)
        events = await client.until("conversation.handoff.requested", timeout=20)
    assert events[-1]["input_transcript"] == "Ask the agent to run the tests."


async def test_spoken_question_over_a_webrtc_call(emulator: Emulator, tmp_path: Path) -> None:
    # The microphone path of a browser or `talk --mic` over WebRTC: Opus on the track.
    pcm = espeak_pcm24k(tmp_path, "agent, list the files") + SILENCE_1S
    session = {"type": "realtime", "tools": HANDOFF_TOOLS}
    peer, _call_id, _record = await connected(emulator, session)
    try:
        await next_event(peer, "session.created")
        peer.push_pcm24k(pcm)
        completed = await next_event(peer, "conversation.item.input_audio_transcription.completed")
        assert completed["transcript"] == "Agent, list the files."
        done = await next_event(peer, "response.done")
        assert done["response"]["output"][0]["name"] == "background_agent"
    finally:
        await peer.aclose()


async def test_a_tone_is_not_speech(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        for event in append_events(pcm_tone(1000) + pcm_tone(600, amplitude=0)):
            await client.send(event)
        events = await client.until("conversation.item.input_audio_transcription.completed")
    assert events[-1]["transcript"] == "(speech 1.0s)"
    assert not speech_like(pcm_tone(1000))


def test_transcripts_read_like_sentences() -> None:
    assert format_transcript("agent list the files") == "Agent, list the files."
    assert format_transcript("  stay   silent ") == "Stay silent."
    assert format_transcript("agentive words") == "Agentive words."
    assert format_transcript("") == ""


async def test_without_pocketsphinx_spoken_input_keeps_the_placeholder(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # import fails: not installed
    caplog.set_level(logging.WARNING, logger="realtalk.emulator._asr")
    events: list[JsonDict] = []
    model = ScriptedModel(recognizer=SpeechRecognizer())

    async def sink(event: JsonDict) -> None:
        events.append(event)

    model.add_sink(sink)
    spoken = espeak_pcm24k(tmp_path, "agent, list the files")
    try:
        await model.feed_input_audio(spoken + SILENCE_1S)
        await model.feed_input_audio(spoken + SILENCE_1S)
    finally:
        await model.aclose()
    transcripts = [
        e["transcript"]
        for e in events
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert len(transcripts) == 2
    assert all(t.startswith("(speech ") for t in transcripts)
    warnings = [r for r in caplog.records if "pocketsphinx is not installed" in r.getMessage()]
    assert len(warnings) == 1


# ------------------------------------------------------------------------- answers


async def _spoken_answer(emulator: Emulator, text: str) -> tuple[bytes, list[JsonDict]]:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        await client.send(user_text(text))
        await client.send({"type": "response.create"})
        events = await client.until("response.done", timeout=20)
    return _pcm_of(events), events


async def test_answers_are_speech_whose_length_follows_the_text(emulator: Emulator) -> None:
    short_pcm, short_events = await _spoken_answer(emulator, "hi")
    long_text = (
        "the tests passed and the build is green, the files are listed in the readme, "
        "and nothing else needs to change before the release goes out tomorrow morning"
    )
    long_pcm, _ = await _spoken_answer(emulator, long_text)
    short_s, long_s = voiced_span_s(short_pcm), voiced_span_s(long_pcm)
    # "You said: hi" is 3 words, the long answer 32: speech at 120-220 words a minute.
    assert 0.6 < short_s < 2.5
    assert 32 * 60 / 220 < long_s < 32 * 60 / 120
    for pcm in (short_pcm, long_pcm):
        assert envelope_variation(pcm) > 0.4  # syllables and pauses, not a steady beep
        assert pitch_changes(pcm) >= 5
    # The transcript deltas still add up to the spoken text.
    deltas = "".join(
        e["delta"] for e in short_events if e["type"] == "response.output_audio_transcript.delta"
    )
    assert deltas == "You said: hi"


async def test_realtime_answer_arrives_at_speaking_pace(
    realtime_emulator: Emulator,
) -> None:
    loop = asyncio.get_running_loop()
    async with open_client(url(realtime_emulator)) as client:
        await start_v2(client)
        await client.send(user_text("pacing check"))
        await client.send({"type": "response.create"})
        await client.until("response.created")
        started = loop.time()
        events = await client.until("response.done", timeout=20)
        elapsed = loop.time() - started
    audio_s = len(_pcm_of(events)) / 48_000
    assert audio_s > 1.0
    assert elapsed > audio_s - 0.2  # paced, with at most the 60 ms lead sent early


class _CountingSynthesizer(SpeechSynthesizer):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def synthesize(self, text: str, voice: str) -> bytes | None:
        self.texts.append(text)
        return await super().synthesize(text, voice)


async def _run_model(model: ScriptedModel, *client_events: JsonDict) -> list[JsonDict]:
    events: list[JsonDict] = []
    done = asyncio.Event()

    async def sink(event: JsonDict) -> None:
        events.append(event)
        if event["type"] == "response.done":
            done.set()

    model.add_sink(sink)
    for event in client_events:
        await model.handle_client_event(event)
    async with asyncio.timeout(20):
        await done.wait()
    return events


async def test_text_only_answers_never_start_the_synthesizer() -> None:
    synthesizer = _CountingSynthesizer()
    model = ScriptedModel(realtime_audio=False, synthesizer=synthesizer)
    try:
        events = await _run_model(
            model,
            {"type": "session.update", "session": {"output_modalities": ["text"]}},
            user_text("quiet please"),
            {"type": "response.create"},
        )
    finally:
        await model.aclose()
    assert any(e["type"] == "response.output_text.done" for e in events)
    assert synthesizer.texts == []


async def test_answers_are_cached() -> None:
    synthesizer = SpeechSynthesizer()
    first = await synthesizer.synthesize("How can I help?", "alloy")
    again = await synthesizer.synthesize("How can I help?", "alloy")
    assert first is not None and again is first
    other_voice = await synthesizer.synthesize("How can I help?", "echo")
    assert other_voice is not None and other_voice != first


@pytest.mark.parametrize(
    ("program", "message"),
    [("realtalk-test-no-such-espeak", "espeak-ng is not installed"), ("false", "espeak-ng failed")],
)
async def test_without_a_working_tts_the_answer_is_the_tone(
    caplog: pytest.LogCaptureFixture, program: str, message: str
) -> None:
    caplog.set_level(logging.WARNING, logger="realtalk.emulator._tts")
    model = ScriptedModel(realtime_audio=False, synthesizer=SpeechSynthesizer(program))
    try:
        first = await _run_model(model, user_text("one"), {"type": "response.create"})
        second = await _run_model(model, user_text("two"), {"type": "response.create"})
    finally:
        await model.aclose()
    for events in (first, second):
        assert set(split_chunks(_pcm_of(events))) == {TONE_CHUNK}
    said = [r for r in caplog.records if message in r.getMessage()]
    # A missing program is said once; a failing one on every answer it spoils.
    assert len(said) == (1 if "installed" in message else 2)


def test_session_voices_map_to_espeak_voices() -> None:
    assert espeak_voice("alloy") == "en-us+f3"
    assert espeak_voice("Echo") == "en-us+m3"
    assert espeak_voice("some-future-voice") == "en-us"


def test_chunks_are_20_ms_and_padded() -> None:
    chunks = split_chunks(b"\x01\x00" * 500)
    assert [len(c) for c in chunks] == [960, 960]
    assert chunks[1].endswith(b"\x00" * 40)

"""Server VAD, commit/clear, transcription mode, barge-in and echo mode."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from realtalk.emulator import Emulator, EmulatorOptions

from ._client import append_events, b64, open_client, pcm_tone, user_text
from ._scenarios import start_v2, types_of, url


async def test_vad_speech_then_silence_produces_a_full_turn(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        pcm = pcm_tone(200, amplitude=0) + pcm_tone(1200) + pcm_tone(600, amplitude=0)
        for event in append_events(pcm, chunk_ms=40):
            await client.send(event)
        events = await client.until("response.done")
    kinds = types_of(events)
    turn = kinds[: kinds.index("response.created")]
    assert turn == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
    ]
    started, stopped = events[0], events[1]
    assert (started["audio_start_ms"], stopped["audio_end_ms"]) == (200, 1400)
    assert started["item_id"] == stopped["item_id"] == events[2]["item_id"]
    completed = events[6]
    assert completed["transcript"] == "(speech 1.2s)"
    spoken = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert spoken["transcript"] == "You said: (speech 1.2s)"


async def test_short_pause_does_not_end_the_turn(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        pcm = (
            pcm_tone(300) + pcm_tone(300, amplitude=0) + pcm_tone(300) + pcm_tone(600, amplitude=0)
        )
        for event in append_events(pcm):
            await client.send(event)
        events = await client.until("conversation.item.input_audio_transcription.completed")
    assert types_of(events).count("input_audio_buffer.speech_started") == 1
    assert events[-1]["transcript"] == "(speech 0.9s)"


async def test_create_response_false_and_custom_silence(emulator: Emulator) -> None:
    session = {
        "type": "realtime",
        "audio": {
            "input": {
                "turn_detection": {
                    "type": "server_vad",
                    "create_response": False,
                    "silence_duration_ms": 200,
                }
            }
        },
    }
    async with open_client(url(emulator)) as client:
        await start_v2(client, session)
        for event in append_events(pcm_tone(400) + pcm_tone(300, amplitude=0)):
            await client.send(event)
        events = await client.until("conversation.item.input_audio_transcription.completed")
        await client.send(user_text("marker"))
        after = await client.recv()
    assert events[1]["type"] == "input_audio_buffer.speech_stopped"
    assert after["type"] == "conversation.item.added"  # no response was started


async def test_no_turn_detection_needs_explicit_commit(emulator: Emulator) -> None:
    session = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    async with open_client(url(emulator)) as client:
        await start_v2(client, session)
        await client.send({"type": "input_audio_buffer.commit"})
        empty = await client.recv()
        for event in append_events(pcm_tone(500)):
            await client.send(event)
        await client.send({"type": "input_audio_buffer.commit"})
        events = await client.until("conversation.item.input_audio_transcription.completed")
    assert empty["error"]["code"] == "input_audio_buffer_commit_empty"
    assert events[0]["type"] == "input_audio_buffer.committed"
    assert events[-1]["transcript"] == "(speech 0.5s)"


async def test_transcription_mode_never_responds(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client, {"type": "transcription"})
        for event in append_events(pcm_tone(500) + pcm_tone(600, amplitude=0)):
            await client.send(event)
        events = await client.until("conversation.item.input_audio_transcription.completed")
        await client.send(user_text("ignored text"))
        await client.send({"type": "response.create"})
        tail = await client.until("error")
    assert emulator.sessions[0].mode == "transcription"
    assert not any(k.startswith("response.") for k in types_of(events + tail))
    assert tail[-1]["error"]["type"] == "invalid_request_error"


async def test_barge_in_cancels_the_active_response(realtime_emulator: Emulator) -> None:
    async with open_client(url(realtime_emulator)) as client:
        await start_v2(client)
        await client.send(user_text("[USER] " + " ".join(["long"] * 80)))
        await client.send({"type": "response.create"})
        before = await client.until("response.output_audio.delta")
        item_id = before[-1]["item_id"]
        for event in append_events(pcm_tone(100)):
            await client.send(event)
        events = await client.until("response.done")
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 40,
            }
        )
        truncated = await client.until("conversation.item.truncated")
    kinds = types_of(events)
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
    done = events[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"]["reason"] == "turn_detected"
    assert done["output"][0]["status"] == "incomplete"
    assert truncated[-1]["audio_end_ms"] == 40


@pytest.fixture
async def echo_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorOptions(echo_audio=True, audio_realtime=False)) as emu:
        yield emu


@pytest.mark.parametrize("query", ["model=gpt-realtime", "intent=quicksilver"])
async def test_echo_mode_answers_each_append_with_same_size_audio(
    echo_emulator: Emulator, query: str
) -> None:
    sizes = [960, 480, 4800]
    async with open_client(url(echo_emulator, query)) as client:
        if query.startswith("model"):
            await client.recv()  # session.created
        for size in sizes:
            await client.send(
                {"type": "input_audio_buffer.append", "audio": b64(pcm_tone(size // 48))}
            )
        deltas = [await client.recv() for _ in sizes]
    assert [len(base64.b64decode(d["delta"])) for d in deltas] == sizes
    if query.startswith("intent"):
        assert [d["samples_per_channel"] for d in deltas] == [s // 2 for s in sizes]
        assert {d["type"] for d in deltas} == {"conversation.output_audio.delta"}
    else:
        assert {d["type"] for d in deltas} == {"response.output_audio.delta"}

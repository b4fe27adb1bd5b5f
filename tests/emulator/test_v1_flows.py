"""v1 ("quicksilver") realtime flows over a raw websockets client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtalk.emulator import Emulator, EmulatorOptions

from ._client import RawClient, append_events, open_client, pcm_tone, user_text
from ._scenarios import types_of

V1_SESSION = {
    "type": "quicksilver",
    "instructions": "be helpful",
    "audio": {
        "input": {"format": {"type": "audio/pcm", "rate": 24000}},
        "output": {"voice": "cove"},
    },
}


def v1_url(emulator: Emulator) -> str:
    return f"{emulator.ws_base_url}/realtime?intent=quicksilver&model=snapshot"


async def start_v1(client: RawClient) -> dict[str, object]:
    await client.send({"type": "session.update", "session": V1_SESSION})
    updated = await client.recv()  # no session.created in v1: the first event answers the update
    assert updated["type"] == "session.updated"
    return updated


async def test_session_update_answered_with_session_id(emulator: Emulator) -> None:
    async with open_client(v1_url(emulator), headers={"openai-alpha": "quicksilver=v1"}) as client:
        updated = await start_v1(client)
    session = updated["session"]
    assert isinstance(session, dict)
    assert str(session["id"]).startswith("sess_")
    assert session["instructions"] == "be helpful"
    record = emulator.sessions[0]
    assert record.version == "v1"
    assert record.header("OpenAI-Alpha") == "quicksilver=v1"


async def test_text_round_trip_uses_v1_event_names(emulator: Emulator) -> None:
    async with open_client(v1_url(emulator)) as client:
        await start_v1(client)
        await client.send(user_text("hello v1"))
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    kinds = set(types_of(events))
    assert "conversation.output_audio.delta" in kinds
    assert "response.output_audio.delta" not in kinds
    audio = next(e for e in events if e["type"] == "conversation.output_audio.delta")
    assert (audio["sample_rate"], audio["channels"], audio["samples_per_channel"]) == (
        24000,
        1,
        480,
    )
    text = "".join(
        e["delta"] for e in events if e["type"] == "conversation.output_transcript.delta"
    )
    assert text == "You said: hello v1"
    done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert done["transcript"] == "You said: hello v1"


async def test_handoff_request_and_append_speaks_the_text(emulator: Emulator) -> None:
    async with open_client(v1_url(emulator)) as client:
        await start_v1(client)
        await client.send(user_text("Agent, run the tests"))
        item_id = (await client.until("conversation.item.done"))[-1]["item"]["id"]
        await client.send({"type": "response.create"})
        handoff = await client.recv()
        assert handoff["type"] == "conversation.handoff.requested"
        assert handoff["input_transcript"] == "Agent, run the tests"
        assert handoff["item_id"] == item_id
        assert str(handoff["handoff_id"]).startswith("handoff_")
        await client.send(
            {
                "type": "conversation.handoff.append",
                "handoff_id": handoff["handoff_id"],
                "output_text": "All green.",
            }
        )
        await client.send(
            {
                "type": "conversation.handoff.append",
                "handoff_id": handoff["handoff_id"],
                "output_text": "Second.",
            }
        )
        first = await client.until("response.done")
        second = await client.until("response.done")
    spoken = [
        next(e for e in events if e["type"] == "response.output_audio_transcript.done")[
            "transcript"
        ]
        for events in (first, second)
    ]
    assert spoken == ["All green.", "Second."]


async def test_stay_silent_produces_nothing_in_v1(emulator: Emulator) -> None:
    async with open_client(v1_url(emulator)) as client:
        await start_v1(client)
        await client.send(user_text("stay silent please"))
        await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        await client.send({"type": "session.update", "session": V1_SESSION})
        after = await client.recv()
    assert after["type"] == "session.updated"  # nothing was emitted for the silent turn


@pytest.fixture
async def voice_emulator() -> AsyncIterator[Emulator]:
    options = EmulatorOptions(audio_realtime=False, speech_transcripts=("ask the agent to deploy",))
    async with Emulator(options) as emu:
        yield emu


async def test_vad_turn_with_configured_transcript_triggers_a_handoff(
    voice_emulator: Emulator,
) -> None:
    async with open_client(v1_url(voice_emulator)) as client:
        await start_v1(client)
        for event in append_events(pcm_tone(800) + pcm_tone(600, amplitude=0)):
            await client.send(event)
        events = await client.until("conversation.handoff.requested")
    kinds = types_of(events)
    assert kinds[:2] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"]
    assert "conversation.input_transcript.delta" in kinds
    completed = next(
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert completed["transcript"] == "ask the agent to deploy"
    assert events[-1]["input_transcript"] == "ask the agent to deploy"
    assert events[-1]["item_id"] == completed["item_id"]

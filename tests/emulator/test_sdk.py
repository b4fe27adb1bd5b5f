"""Compatibility with the official ``openai`` SDK: a live client, and schema checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest
from openai import AsyncOpenAI

from realtalk.emulator import Emulator, EmulatorOptions, ScriptedModel

from ._client import open_client, user_text
from ._scenarios import SCENARIOS, start_v2, url
from .sdk_schemas import (
    client_event_types,
    server_event_types,
    validate_client_event,
    validate_server_event,
)

JsonDict = dict[str, Any]


async def test_openai_sdk_round_trip(emulator: Emulator) -> None:
    client = AsyncOpenAI(
        api_key="sk-emulator", base_url=emulator.base_url, websocket_base_url=emulator.ws_base_url
    )
    seen: list[str] = []
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi sdk"}],
            }
        )
        await conn.response.create()
        transcript = ""
        async for event in conn:
            seen.append(event.type)
            if event.type == "response.output_audio_transcript.done":
                transcript = event.transcript
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
    await client.close()
    assert seen[:2] == ["session.created", "session.updated"]
    assert transcript == "You said: hi sdk"
    record = emulator.sessions[0]
    assert record.path_qs == "/v1/realtime?model=gpt-realtime"
    assert record.header("authorization") == "Bearer sk-emulator"
    for message in record.received:
        validate_client_event(message)


async def _cancelled_response_events() -> list[JsonDict]:
    async with (
        Emulator(EmulatorOptions(audio_realtime=True)) as emu,
        open_client(url(emu)) as client,
    ):
        await start_v2(client)
        await client.send(user_text("[USER] " + " ".join(["long"] * 80)))
        await client.send({"type": "response.create"})
        await client.until("response.output_audio.delta")
        await client.send({"type": "response.create"})  # active-response error
        await client.send({"type": "response.cancel"})
        await client.until("response.done")
        return client.events


async def _audio_sink_events() -> list[JsonDict]:
    """The WebRTC-style path: audio goes to a sink, events carry output_audio_buffer.*."""
    chunks: list[bytes] = []
    events: list[JsonDict] = []
    first_chunk = asyncio.Event()
    stopped = asyncio.Event()

    async def audio_sink(pcm: bytes) -> None:
        chunks.append(pcm)
        first_chunk.set()

    async def sink(event: JsonDict) -> None:
        events.append(event)
        if event["type"] == "output_audio_buffer.stopped":
            stopped.set()

    model = ScriptedModel(realtime_audio=False, audio_sink=audio_sink)
    model.add_sink(sink)
    await model.start()
    await model.handle_client_event(user_text("[USER] over webrtc"))
    await model.handle_client_event({"type": "response.create"})
    await model.handle_client_event({"type": "response.create"})  # active: error
    async with asyncio.timeout(5):
        await first_chunk.wait()
    await model.handle_client_event({"type": "response.cancel"})  # waits for the cancelled tail
    await model.handle_client_event(user_text("[USER] again"))
    await model.handle_client_event({"type": "response.create"})
    async with asyncio.timeout(5):
        await stopped.wait()
    await model.aclose()
    assert chunks and all(len(c) == 960 for c in chunks)
    assert not any(e["type"] == "response.output_audio.delta" for e in events)
    return events


async def _fault_error_events() -> list[JsonDict]:
    async with (
        Emulator(EmulatorOptions(audio_realtime=False, error_after_events=1)) as emu,
        open_client(url(emu)) as client,
    ):
        await client.recv()
        return [await client.recv()]


async def test_every_v2_server_event_validates_against_the_sdk(emulator: Emulator) -> None:
    collected: list[JsonDict] = []
    for scenario in SCENARIOS:
        collected += await scenario(emulator)
    collected += await _cancelled_response_events()
    collected += await _audio_sink_events()
    collected += await _fault_error_events()
    for record in emulator.sessions:  # what the server says it sent, not just what we read
        collected += record.sent

    failures = []
    for event in collected:
        try:
            validate_server_event(event)
        except pydantic.ValidationError as exc:
            failures.append((event["type"], str(exc)[:400]))
    assert failures == []

    emitted = {e["type"] for e in collected}
    expected = {
        "session.created",
        "session.updated",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.deleted",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "response.created",
        "response.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "error",
    }
    assert expected <= emitted
    assert emitted <= server_event_types()


def test_server_validation_rejects_a_missing_required_field() -> None:
    event = {
        "type": "response.output_audio.delta",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "AAAA",
    }
    validate_server_event(event)
    for field in ("response_id", "item_id", "output_index", "delta", "event_id"):
        broken = {k: v for k, v in event.items() if k != field}
        with pytest.raises(pydantic.ValidationError):
            validate_server_event(broken)
    with pytest.raises(pydantic.ValidationError):
        validate_server_event({**event, "output_index": "0"})  # strict: no coercion
    with pytest.raises(pydantic.ValidationError):
        validate_server_event({**event, "type": "response.cancelled"})  # not a GA event
    nested = {"type": "session.updated", "event_id": "e", "session": {"id": "sess_1"}}
    with pytest.raises(pydantic.ValidationError):
        validate_server_event(nested)  # session.type is required


def test_client_validation() -> None:
    validate_client_event({"type": "response.create"})
    validate_client_event({"type": "input_audio_buffer.append", "audio": "AAAA"})
    validate_client_event(
        {
            "type": "conversation.item.truncate",
            "item_id": "item_1",
            "content_index": 0,
            "audio_end_ms": 10,
        }
    )
    with pytest.raises(pydantic.ValidationError):
        validate_client_event({"type": "input_audio_buffer.append"})
    with pytest.raises(pydantic.ValidationError):
        validate_client_event(
            {"type": "conversation.handoff.append", "handoff_id": "h", "output_text": "x"}
        )
    assert "session.update" in client_event_types()

"""Scripted v2 conversations shared by the behaviour tests and the SDK schema test.

Each scenario opens its own socket on the given emulator (fast audio), drives one
flow with a raw websockets client, asserts the essentials and returns the events
it received.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from realtalk.emulator import Emulator

from ._client import HANDOFF_TOOLS, RawClient, append_events, open_client, pcm_tone, user_text

JsonDict = dict[str, Any]
Scenario = Callable[[Emulator], Awaitable[list[JsonDict]]]


def types_of(events: list[JsonDict]) -> list[str]:
    return [str(e["type"]) for e in events]


async def start_v2(client: RawClient, session: JsonDict | None = None) -> JsonDict:
    created = await client.recv()
    assert created["type"] == "session.created"
    body: JsonDict = {"type": "realtime", "tools": HANDOFF_TOOLS} if session is None else session
    await client.send({"type": "session.update", "session": body})
    updated = await client.recv()
    assert updated["type"] == "session.updated"
    return updated


def url(emulator: Emulator, query: str = "model=gpt-realtime") -> str:
    return f"{emulator.ws_base_url}/realtime?{query}"


async def text_audio_round_trip(emulator: Emulator) -> list[JsonDict]:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        await client.send(user_text("[USER] hello there"))
        acks = await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        assert types_of(acks) == ["conversation.item.added", "conversation.item.done"]
        transcript = "".join(
            e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
        )
        assert transcript == "You said: hello there"
        return client.events


async def text_modality(emulator: Emulator) -> list[JsonDict]:
    async with open_client(url(emulator)) as client:
        await start_v2(client, {"type": "realtime", "output_modalities": ["text"]})
        await client.send(user_text("[USER] plain text please"))
        await client.send(
            {"type": "response.create", "response": {"metadata": {"client_event_id": "c1"}}}
        )
        events = await client.until("response.done")
        kinds = types_of(events)
        assert "response.output_audio.delta" not in kinds
        done = next(e for e in events if e["type"] == "response.output_text.done")
        assert done["text"] == "You said: plain text please"
        created = next(e for e in events if e["type"] == "response.created")
        assert created["response"]["metadata"] == {"client_event_id": "c1"}
        return client.events


async def handoff_and_follow_up(emulator: Emulator) -> list[JsonDict]:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        await client.send(user_text("[USER] Agent, list the files"))
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        call = next(
            e["item"]
            for e in events
            if e["type"] == "conversation.item.done" and e["item"]["type"] == "function_call"
        )
        assert call["name"] == "background_agent"
        assert json.loads(call["arguments"]) == {"prompt": "Agent, list the files"}
        backend = {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "[BACKEND] three files found"}],
            },
        }
        await client.send(backend)
        output = {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call["call_id"], "output": "done"},
        }
        await client.send(output)
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        final = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
        assert final["transcript"] == "The agent says: three files found"
        return client.events


async def remain_silent(emulator: Emulator) -> list[JsonDict]:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        await client.send(user_text("[USER] please stay silent now"))
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert (call["name"], call["arguments"]) == ("remain_silent", "{}")
        return client.events


async def vad_turn(emulator: Emulator) -> list[JsonDict]:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        for event in append_events(pcm_tone(1000) + pcm_tone(700, amplitude=0)):
            await client.send(event)
        events = await client.until("response.done")
        completed = next(
            e
            for e in events
            if e["type"] == "conversation.item.input_audio_transcription.completed"
        )
        assert completed["transcript"] == "(speech 1.0s)"
        return client.events


async def transcription_session(emulator: Emulator) -> list[JsonDict]:
    async with open_client(url(emulator, "intent=transcription")) as client:
        updated = await start_v2(client, {"type": "transcription"})
        assert updated["session"]["type"] == "transcription"
        for event in append_events(pcm_tone(600) + pcm_tone(600, amplitude=0)):
            await client.send(event)
        await client.until("conversation.item.input_audio_transcription.completed")
        await client.send({"type": "response.create"})
        error = await client.recv()
        assert error["type"] == "error"
        return client.events


async def item_housekeeping(emulator: Emulator) -> list[JsonDict]:
    async with open_client(url(emulator)) as client:
        await start_v2(client, {"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        item = user_text("[USER] keep me")
        item["item"]["id"] = "item_client_1"
        await client.send(item)
        await client.until("conversation.item.done")
        await client.send({"type": "conversation.item.retrieve", "item_id": "item_client_1"})
        retrieved = await client.recv()
        assert retrieved["item"]["id"] == "item_client_1"
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": "item_client_1",
                "content_index": 0,
                "audio_end_ms": 5,
            }
        )
        assert (await client.recv())["type"] == "conversation.item.truncated"
        await client.send({"type": "conversation.item.delete", "item_id": "item_client_1"})
        assert (await client.recv())["type"] == "conversation.item.deleted"
        for event in append_events(pcm_tone(300)):
            await client.send(event)
        await client.send({"type": "input_audio_buffer.commit"})
        await client.until("conversation.item.input_audio_transcription.completed")
        for event in append_events(pcm_tone(200)):
            await client.send(event)
        await client.send({"type": "input_audio_buffer.clear"})
        assert (await client.recv())["type"] == "input_audio_buffer.cleared"
        await client.send({"type": "response.cancel"})
        error = await client.recv()
        assert error["error"]["code"] == "response_cancel_not_active"
        await client.send({"type": "no.such.event"})
        error = await client.recv()
        assert error["error"]["type"] == "invalid_request_error"
        return client.events


SCENARIOS: tuple[Scenario, ...] = (
    text_audio_round_trip,
    text_modality,
    handoff_and_follow_up,
    remain_silent,
    vad_turn,
    transcription_session,
    item_housekeeping,
)

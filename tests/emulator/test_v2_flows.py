"""v2 (GA) realtime flows over a raw websockets client."""

from __future__ import annotations

import pytest

from realtalk.emulator import Emulator

from ._client import open_client, user_text
from ._scenarios import SCENARIOS, Scenario, start_v2, types_of, url


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_scenario(emulator: Emulator, scenario: Scenario) -> None:
    events = await scenario(emulator)
    assert events
    assert all(isinstance(e.get("event_id"), str) for e in events)


async def test_session_created_first_then_updated_with_client_fields(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        created = await client.recv()
        assert created["type"] == "session.created"
        session_id = created["session"]["id"]
        assert session_id.startswith("sess_")
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "instructions": "be brief", "tool_choice": "auto"},
            }
        )
        updated = await client.recv()
    assert updated["type"] == "session.updated"
    assert updated["session"]["id"] == session_id
    assert updated["session"]["instructions"] == "be brief"
    assert updated["session"]["model"] == "gpt-realtime"  # from the ?model= query


async def test_full_event_order_of_a_spoken_answer(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        await client.send(user_text("hi"))
        await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    kinds = [k for k in types_of(events) if not k.endswith(".delta")]
    assert kinds == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    deltas = [e for e in events if e["type"] == "response.output_audio.delta"]
    response_id = events[0]["response"]["id"]
    assert response_id.startswith("resp_")
    assert events[-1]["response"]["id"] == response_id
    assert events[-1]["response"]["status"] == "completed"
    assert len(deltas) >= 10  # at least 200 ms of 20 ms chunks
    assert all(len(d["delta"]) == 1280 for d in deltas)  # 960 PCM bytes each, base64


async def test_function_call_output_without_backend_text_is_acknowledged(
    emulator: Emulator,
) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        await client.send(user_text("[USER] please ask the agent about the build"))
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert call["name"] == "background_agent"
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": "steer",
                },
            }
        )
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    final = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert final["transcript"] == "Okay."


async def test_backend_text_before_the_handoff_is_not_quoted(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        old = user_text("[BACKEND] stale news")
        await client.send(old)
        await client.send(user_text("[USER] agent, do it"))
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        call_id = next(e for e in events if e["type"] == "response.function_call_arguments.done")[
            "call_id"
        ]
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call_id, "output": ""},
            }
        )
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    final = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert final["transcript"] == "Okay."


async def test_active_response_error_keeps_the_connection(realtime_emulator: Emulator) -> None:
    long_text = "[USER] " + " ".join(["word"] * 80)  # about 3 s of paced audio
    async with open_client(url(realtime_emulator)) as client:
        await start_v2(client)
        await client.send(user_text(long_text))
        await client.send({"type": "response.create"})
        await client.until("response.output_audio.delta")
        await client.send({"type": "response.create", "event_id": "evt_client_2"})
        events = await client.until("error")
        error = events[-1]["error"]
        assert error["code"] == "conversation_already_has_active_response"
        assert error["message"].startswith(
            "Conversation already has an active response in progress:"
        )
        assert error["event_id"] == "evt_client_2"
        await client.send({"type": "response.cancel"})
        done = (await client.until("response.done"))[-1]
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        await client.send(user_text("[USER] again"))
        await client.send({"type": "response.create"})
        await client.until("response.created")


async def test_unknown_and_malformed_client_messages_get_errors(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        await client.send({"type": "made.up"})
        unknown = await client.recv()
        await client.ws.send("{not json")
        bad_json = await client.recv()
        await client.ws.send(b"\x01\x02")
        binary = await client.recv()
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        still_open = await client.recv()
    assert unknown["type"] == "error"
    assert unknown["error"]["type"] == "invalid_request_error"
    assert "'made.up'" in unknown["error"]["message"]
    assert bad_json["error"]["code"] == "invalid_json"
    assert binary["type"] == "error"
    assert still_open["type"] == "session.updated"

"""Beta dialect translation, browser subprotocol keys, call control edges, SIP over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from realtalk.emulator import Emulator
from realtalk.emulator._beta import (
    beta_session,
    client_event_to_ga,
    is_beta,
    server_event_to_beta,
)
from realtalk.emulator._wire import default_session

from ._client import open_client, user_text

JsonDict = dict[str, Any]


def test_beta_header_detection() -> None:
    assert is_beta("realtime=v1")
    assert is_beta("assistants=v2, realtime=v1")
    assert not is_beta(None)
    assert not is_beta("responses_websockets=2026-02-06")


def test_beta_session_round_trip() -> None:
    update = {
        "modalities": ["text", "audio"],
        "voice": "verse",
        "speed": 1.2,
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "pcm16",
        "turn_detection": None,
        "max_response_output_tokens": 200,
        "instructions": "hi",
    }
    ga = client_event_to_ga({"type": "session.update", "session": update})["session"]
    assert ga == {
        "type": "realtime",
        "output_modalities": ["audio"],
        "max_output_tokens": 200,
        "instructions": "hi",
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
            "output": {
                "voice": "verse",
                "speed": 1.2,
                "format": {"type": "audio/pcm", "rate": 24000},
            },
        },
    }
    base = default_session(version="v2", mode="conversational", session_id="sess_1", model="m")
    session = beta_session({**base, **ga, "audio": ga["audio"]})
    assert {k: session[k] for k in update} == {**update, "modalities": ["text", "audio"]}
    text_only = client_event_to_ga(
        {"type": "response.create", "response": {"modalities": ["text"]}}
    )
    assert text_only["response"] == {"output_modalities": ["text"]}


def test_beta_event_names_and_items() -> None:
    item: JsonDict = {
        "id": "item_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "x"}],
    }
    created = server_event_to_beta({"type": "conversation.item.added", "item": item})
    assert created is not None and created["type"] == "conversation.item.created"
    assert created["item"]["content"][0]["type"] == "audio"
    assert server_event_to_beta({"type": "conversation.item.done", "item": item}) is None
    renamed = server_event_to_beta({"type": "response.output_text.delta", "delta": "a"})
    assert renamed == {"type": "response.text.delta", "delta": "a"}
    assert item["content"][0]["type"] == "output_audio"  # the model's event is not changed


async def test_a_browser_key_in_the_subprotocol(emulator: Emulator) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            emulator.base_url + "/realtime/client_secrets", json={"session": {"type": "realtime"}}
        ) as answer,
    ):
        value = (await answer.json())["value"]
    protocols: Any = ["realtime", f"openai-insecure-api-key.{value}"]
    url = emulator.ws_base_url + "/realtime?model=gpt-realtime"
    async with open_client(url, subprotocols=protocols) as client:
        assert client.ws.subprotocol == "realtime"
        assert (await client.recv())["type"] == "session.created"
    with pytest.raises(Exception, match="HTTP 401"):
        async with open_client(url, subprotocols=["realtime", "openai-insecure-api-key.ek_nope"]):
            pass


async def _post(emulator: Emulator, path: str, body: Any = None) -> tuple[int, JsonDict]:
    origin = emulator.base_url.removesuffix("/v1")
    async with aiohttp.ClientSession() as http, http.post(origin + path, json=body) as answer:
        return answer.status, await answer.json()


async def test_sip_calls_over_http_and_state_errors(emulator: Emulator) -> None:
    status, body = await _post(emulator, "/_emulator/sip/incoming", {"from_uri": "sip:a@b"})
    assert status == 200
    call_id = body["call_id"]
    assert emulator.sip_calls[0].from_uri == "sip:a@b"
    calls = f"/v1/realtime/calls/{call_id}"
    assert (await _post(emulator, calls + "/accept", {"type": "transcription"}))[0] == 400
    assert (await _post(emulator, calls + "/reject", {"status_code": 200}))[0] == 400
    assert (await _post(emulator, calls + "/accept", {"type": "realtime"}))[0] == 200
    async with open_client(f"{emulator.ws_base_url}/realtime?call_id={call_id}") as sideband:
        await sideband.send(user_text("[USER] on the phone"))
        await sideband.send({"type": "response.create"})
        done = (await sideband.until("response.done"))[-1]
        assert done["response"]["status"] == "completed"
    assert (await _post(emulator, calls + "/reject"))[0] == 400  # active: hang up instead
    assert (await _post(emulator, calls + "/hangup"))[0] == 200
    status, body = await _post(emulator, calls + "/hangup")
    assert (status, body["error"]["code"]) == (404, "call_not_found")
    assert (await _post(emulator, calls + "/transfer"))[0] == 404


async def test_webrtc_calls_take_only_hangup(emulator: Emulator, offer: str) -> None:
    origin = emulator.base_url
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            origin + "/realtime/calls", data=offer, headers={"Content-Type": "application/sdp"}
        ) as answer,
    ):
        assert answer.status == 201
        call_id = answer.headers["Location"].rsplit("/", 1)[-1]
    for action in ("accept", "reject", "refer"):
        assert (await _post(emulator, f"/v1/realtime/calls/{call_id}/{action}", {}))[0] == 400
    assert (await _post(emulator, f"/v1/realtime/calls/{call_id}/hangup"))[0] == 200
    await emulator.calls[0].ended.wait()

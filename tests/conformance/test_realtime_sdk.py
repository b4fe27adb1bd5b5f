"""Realtime (GA and beta), client secrets, calls and models through the official SDK.

Every server event the emulator sent on every socket is validated (strict) against
the SDK's GA or beta types, whichever the socket speaks.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from openai import AsyncOpenAI
from websockets.exceptions import InvalidStatus

from realtalk.emulator import Emulator

from ._schemas import (
    validate_beta_realtime_event,
    validate_client_secret,
    validate_realtime_event,
)
from .conftest import Clock

JsonDict = dict[str, Any]
WEATHER: JsonDict = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city", "days"],
    },
}


def user_text(text: str) -> JsonDict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def validate_every_socket(emulator: Emulator) -> int:
    count = 0
    for session in emulator.sessions:
        for event in session.sent:
            if session.beta:
                validate_beta_realtime_event(event)
            else:
                validate_realtime_event(event)
            count += 1
    return count


async def test_ga_conversation_with_a_declared_tool(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})  # type: ignore[list-item]
        await conn.conversation.item.create(item=user_text("use get_weather for 'Lima'"))  # type: ignore[arg-type]
        await conn.response.create()
        call: Any = None
        async for event in conn:
            if event.type == "response.done":
                (call,) = event.response.output or []
                break
        assert call.type == "function_call" and call.name == "get_weather"
        arguments = json.loads(call.arguments)
        jsonschema.validate(arguments, WEATHER["parameters"])
        assert arguments == {"city": "Lima", "days": 1}
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "warm"}
        )
        await conn.response.create()
        transcript = ""
        async for event in conn:
            if event.type == "response.output_audio_transcript.done":
                transcript = event.transcript
            if event.type == "response.done":
                break
    assert transcript == "The get_weather tool returned: warm"
    assert validate_every_socket(emulator) > 20


async def test_beta_realtime_completes_a_conversation(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        await conn.session.update(
            session={"modalities": ["text", "audio"], "voice": "verse", "tools": [WEATHER]}  # type: ignore[list-item]
        )
        await conn.conversation.item.create(item=user_text("hello beta"))  # type: ignore[arg-type]
        await conn.response.create()
        kinds: list[str] = []
        async for event in conn:
            kinds.append(event.type)
            if event.type == "session.updated":
                assert event.session.voice == "verse"
                assert event.session.input_audio_format == "pcm16"
            if event.type == "response.audio_transcript.done":
                assert event.transcript == "You said: hello beta"
            if event.type == "response.done":
                break
        await conn.conversation.item.create(item=user_text("text only"))  # type: ignore[arg-type]
        await conn.response.create(response={"modalities": ["text"]})
        async for event in conn:
            kinds.append(event.type)
            if event.type == "response.text.done":
                assert event.text == "You said: text only"
            if event.type == "response.done":
                break
    assert {"conversation.item.created", "response.audio.delta", "response.text.delta"} <= set(
        kinds
    )
    ga_only = ("response.output_audio", "response.output_text", "conversation.item.added")
    assert not any(kind.startswith(ga_only) for kind in kinds)
    (session,) = emulator.sessions
    assert session.beta and session.header("OpenAI-Beta") == "realtime=v1"
    assert validate_every_socket(emulator) > 20


async def test_client_secret_opens_sessions_until_it_expires(
    emulator: Emulator, client: AsyncOpenAI, clock: Clock
) -> None:
    secret = await client.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 60},
        session={"type": "realtime", "instructions": "Be kind.", "output_modalities": ["text"]},
    )
    assert secret.value.startswith("ek_") and secret.expires_at == int(clock.now) + 60
    browser = AsyncOpenAI(
        api_key=secret.value,
        base_url=emulator.base_url,
        websocket_base_url=emulator.ws_base_url,
        max_retries=0,
    )
    for _ in range(2):  # one secret opens several sessions
        async with browser.realtime.connect(model="gpt-realtime") as conn:
            created = await conn.recv()
            assert created.type == "session.created"
            assert created.session.instructions == "Be kind."  # type: ignore[union-attr]
            await conn.conversation.item.create(item=user_text("what are your instructions"))  # type: ignore[arg-type]
            await conn.response.create()
            async for event in conn:
                if event.type == "response.output_text.done":
                    assert event.text == "My instructions are: Be kind."
                if event.type == "response.done":
                    break
    clock.now += 61
    with pytest.raises(InvalidStatus) as refused:
        async with browser.realtime.connect(model="gpt-realtime") as conn:
            await conn.recv()
    assert refused.value.response.status_code == 401
    assert secret.value not in refused.value.response.body.decode()  # never echoed
    await browser.close()
    validate_every_socket(emulator)


async def test_client_secret_response_shape(emulator: Emulator) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            emulator.base_url + "/realtime/client_secrets",
            json={"session": {"type": "transcription"}},
            headers={"Authorization": "Bearer sk-x"},
        ) as answer,
    ):
        assert answer.status == 200
        body = await answer.json()
    assert validate_client_secret(body).session.type == "transcription"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            emulator.base_url + "/realtime/client_secrets",
            json={"expires_after": {"anchor": "created_at", "seconds": 5}},
        ) as answer,
    ):
        assert answer.status == 400


async def test_webrtc_call_with_a_client_secret_then_hangup(
    emulator: Emulator, client: AsyncOpenAI, clock: Clock, offer: str
) -> None:
    secret = await client.realtime.client_secrets.create(
        session={"type": "realtime", "audio": {"output": {"voice": "cedar"}}}
    )
    browser = AsyncOpenAI(api_key=secret.value, base_url=emulator.base_url, max_retries=0)
    answer = await browser.realtime.calls.with_raw_response.create(sdp=offer)
    assert answer.status_code == 201
    call_id = answer.headers["location"].rsplit("/", 1)[-1]
    assert call_id.startswith("rtc_") and "v=0" in answer.http_response.text
    (record,) = emulator.calls
    assert record.call_id == call_id
    await client.realtime.calls.hangup(call_id)
    with pytest.raises(openai.NotFoundError):
        await client.realtime.calls.hangup(call_id)
    clock.now += 3600
    with pytest.raises(openai.AuthenticationError):
        await browser.realtime.calls.create(sdp=offer)
    await browser.close()


async def test_sip_call_accept_sideband_refer(emulator: Emulator, client: AsyncOpenAI) -> None:
    ringing = emulator.incoming_sip_call()
    await client.realtime.calls.accept(
        ringing.call_id, type="realtime", model="gpt-realtime", instructions="Phone voice."
    )
    assert ringing.state == "active"
    with pytest.raises(openai.BadRequestError):
        await client.realtime.calls.accept(ringing.call_id, type="realtime")
    async with client.realtime.connect(call_id=ringing.call_id) as sideband:
        await sideband.conversation.item.create(item=user_text("hello phone"))  # type: ignore[arg-type]
        await sideband.response.create()
        async for event in sideband:
            if event.type == "response.done":
                break
    assert ringing.output_audio_bytes > 0
    with pytest.raises(openai.BadRequestError):
        await client.realtime.calls.refer(ringing.call_id, target_uri="mailto:nobody")
    await client.realtime.calls.refer(ringing.call_id, target_uri="tel:+14155550123")
    assert (ringing.state, ringing.refer_target) == ("ended", "tel:+14155550123")
    with pytest.raises(openai.NotFoundError):
        await client.realtime.calls.hangup(ringing.call_id)
    validate_every_socket(emulator)


async def test_sip_call_reject(emulator: Emulator, client: AsyncOpenAI) -> None:
    busy = emulator.incoming_sip_call()
    with pytest.raises(openai.BadRequestError):
        await client.realtime.calls.refer(busy.call_id, target_uri="tel:+1")  # not active
    await client.realtime.calls.reject(busy.call_id, status_code=486)
    assert (busy.state, busy.reject_status) == ("ended", 486)
    default = emulator.incoming_sip_call()
    await client.realtime.calls.reject(default.call_id)
    assert default.reject_status == 603
    with pytest.raises(openai.NotFoundError):
        await client.realtime.calls.reject("rtc_unknown")


async def test_models(client: AsyncOpenAI) -> None:
    listed = [model.id async for model in client.models.list()]
    assert "gpt-realtime" in listed and "gpt-5" in listed
    assert (await client.models.retrieve("gpt-realtime")).object == "model"
    with pytest.raises(openai.NotFoundError) as missing:
        await client.models.retrieve("no-such-model")
    assert missing.value.code == "model_not_found"

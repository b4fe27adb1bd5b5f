"""The realtime API over a real WebSocket listener against the emulator (reference 9.6)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from realtalk.app_server import AppServer, Client, RpcError, ThreadRealtimeStartParams
from realtalk.protocol import (
    COMPLETION_ACK,
    V1_VOICES,
    V2_VOICES,
    OutputModality,
    Version,
)

from .conftest import TIMEOUT, Backend, ClientFactory, chunk, pcm_b64, start_realtime


def _types(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("type", "") for m in messages]


def _user_text(text: str) -> Callable[[dict[str, Any]], bool]:
    def match(m: dict[str, Any]) -> bool:
        return (
            m.get("type") == "conversation.item.create"
            and m["item"]["content"][0]["text"] == f"[USER] {text}"
        )

    return match


def _methods(client: Client, start: int = 0) -> list[str]:
    return [n.method for n in client.notifications(start=start)]


async def test_realtime_conversation_streams_v2_notifications(
    client: Client, backend: Backend
) -> None:
    thread_id, record = await start_realtime(
        client, backend, voice="cedar", prompt="backend prompt", model="realtime-test"
    )
    started = (await client.wait_for("thread/realtime/started")).params
    assert started.version is Version.V2
    assert started.realtime_session_id == thread_id
    assert record.path_qs == "/v1/realtime?model=realtime-test"
    update = await record.wait_for_message(lambda m: m.get("type") == "session.update")
    assert update["session"]["audio"]["output"]["voice"] == "cedar"
    assert update["session"]["output_modalities"] == ["audio"]
    assert update["session"]["instructions"] == "backend prompt"

    audio = pcm_b64(20, fill=7)
    await client.append_audio(thread_id, chunk(20, fill=7))
    await client.append_text(thread_id, "hello")
    appended = await record.wait_for_message(lambda m: m.get("type") == "input_audio_buffer.append")
    assert appended["audio"] == audio
    item = await record.wait_for_message(lambda m: m.get("type") == "conversation.item.create")
    assert item["item"]["role"] == "user"
    assert item["item"]["content"][0]["text"] == "[USER] hello"

    mark = client.notification_count
    out = pcm_b64(10, fill=3)
    await record.send_event(
        {"type": "response.output_audio.delta", "item_id": "item_o", "delta": out}
    )
    delta = (await client.wait_for("thread/realtime/outputAudio/delta", start=mark)).params
    assert delta.thread_id == thread_id
    assert msgspec.to_builtins(delta.audio) == {
        "data": out,
        "sampleRate": 24000,
        "numChannels": 1,
        "samplesPerChannel": 240,
        "itemId": "item_o",
    }
    await record.send_event(
        {
            "type": "conversation.item.added",
            "item": {"type": "message", "id": "item_m", "role": "assistant"},
        }
    )
    added = await client.wait_for(
        "thread/realtime/itemAdded", lambda p: p.item.get("id") == "item_m", start=mark
    )
    assert added.params.item == {"type": "message", "id": "item_m", "role": "assistant"}

    await record.send_event(
        {
            "type": "conversation.item.input_audio_transcription.delta",
            "item_id": "i",
            "delta": "delegate ",
        }
    )
    await record.send_event(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "i",
            "transcript": "delegate now",
        }
    )
    await record.send_event({"type": "response.output_audio_transcript.delta", "delta": "on it"})
    await record.send_event(
        {"type": "response.output_audio_transcript.done", "transcript": "on it"}
    )
    done = await client.wait_for(
        "thread/realtime/transcript/done", lambda p: p.role == "assistant", start=mark
    )
    assert done.params.text == "on it"
    deltas = [
        n.params for n in client.notifications("thread/realtime/transcript/delta", start=mark)
    ]
    assert [(d.role, d.delta) for d in deltas] == [("user", "delegate "), ("assistant", "on it")]
    dones = [n.params for n in client.notifications("thread/realtime/transcript/done", start=mark)]
    assert [(d.role, d.text) for d in dones] == [("user", "delegate now"), ("assistant", "on it")]

    await record.send_event(
        {
            "type": "conversation.item.done",
            "item": {
                "id": "item_h",
                "type": "function_call",
                "name": "background_agent",
                "call_id": "call_h",
                "arguments": '{"prompt":"delegate now"}',
            },
        }
    )
    handoff = await client.wait_for(
        "thread/realtime/itemAdded", lambda p: p.item.get("type") == "handoff_request", start=mark
    )
    assert handoff.params.item == {
        "type": "handoff_request",
        "handoff_id": "call_h",
        "item_id": "item_h",
        "input_transcript": "delegate now",
        "active_transcript": [
            {"role": "user", "text": "delegate now"},
            {"role": "assistant", "text": "on it"},
        ],
    }

    await record.send_event(
        {"type": "error", "error": {"type": "server_error", "message": "upstream boom"}}
    )
    closed = await client.wait_for("thread/realtime/closed", start=mark)
    assert closed.params.reason == "error"
    errors = client.notifications("thread/realtime/error", start=mark)
    assert [e.params.message for e in errors] == ["upstream boom"]
    methods = _methods(client, mark)
    assert methods.index("thread/realtime/error") < methods.index("thread/realtime/closed")
    upstream = _types(record.received)
    assert upstream[0] == "session.update"
    assert {"input_audio_buffer.append", "conversation.item.create"} <= set(upstream)


async def test_text_output_modality_requests_text_and_one_final_transcript(
    client: Client, backend: Backend
) -> None:
    thread_id, record = await start_realtime(client, backend, output_modality=OutputModality.TEXT)
    update = await record.wait_for_message(lambda m: m.get("type") == "session.update")
    assert update["session"]["output_modalities"] == ["text"]
    mark = client.notification_count
    for piece in ("hello", " world"):
        await record.send_event({"type": "response.output_text.delta", "delta": piece})
    await record.send_event({"type": "response.output_text.done", "text": "hello world"})
    await client.wait_for("thread/realtime/transcript/done", start=mark)
    deltas = client.notifications("thread/realtime/transcript/delta", start=mark)
    assert [(d.params.role, d.params.delta) for d in deltas] == [
        ("assistant", "hello"),
        ("assistant", " world"),
    ]
    dones = client.notifications("thread/realtime/transcript/done", start=mark)
    assert [(d.params.role, d.params.text) for d in dones] == [("assistant", "hello world")]
    assert all(n.params.thread_id == thread_id for n in dones + deltas)


async def test_list_voices_returns_supported_names(client: Client) -> None:
    voices = await client.list_voices()
    assert voices.v1 == list(V1_VOICES) and voices.v2 == list(V2_VOICES)
    assert (voices.default_v1, voices.default_v2) == ("cove", "marin")
    raw = await client.request_raw("thread/realtime/listVoices")
    assert msgspec.json.decode(raw)["voices"]["defaultV2"] == "marin"


async def test_stop_emits_closed_and_later_input_is_a_notification_error(
    client: Client, backend: Backend
) -> None:
    thread_id, record = await start_realtime(client, backend)
    mark = client.notification_count
    await client.realtime_stop(thread_id)  # answers {} (no exception)
    closed = await client.wait_for("thread/realtime/closed", start=mark)
    assert closed.params.reason in ("requested", "transport_closed")
    await record.wait_closed(TIMEOUT)
    await client.append_text(thread_id, "too late")  # still {} ...
    await client.append_audio(thread_id, chunk())
    errors = await client.wait_for_count("thread/realtime/error", 2, start=mark)
    assert [n.params.message for n in errors] == ["conversation is not running"] * 2
    assert [n.params.thread_id for n in errors] == [thread_id] * 2


async def test_text_input_is_append_only_while_a_response_is_active_or_cancelled(
    client: Client, backend: Backend
) -> None:
    thread_id, record = await start_realtime(client, backend)
    await record.send_event({"type": "response.created", "response": {"id": "resp_1"}})
    await client.append_text(thread_id, "first")
    await record.wait_for_message(
        lambda m: (
            m.get("type") == "conversation.item.create"
            and m["item"]["content"][0]["text"] == "[USER] first"
        )
    )
    mark = client.notification_count
    await record.send_event({"type": "response.cancelled", "response": {"id": "resp_1"}})
    cancelled = await client.wait_for(
        "thread/realtime/itemAdded",
        lambda p: p.item.get("type") == "response.cancelled",
        start=mark,
    )
    assert cancelled.params.item == {"type": "response.cancelled", "response_id": "resp_1"}
    await record.send_event({"type": "input_audio_buffer.speech_started", "item_id": "item_s"})
    speech = await client.wait_for(
        "thread/realtime/itemAdded",
        lambda p: p.item.get("type") == "input_audio_buffer.speech_started",
        start=mark,
    )
    assert speech.params.item == {"type": "input_audio_buffer.speech_started", "item_id": "item_s"}
    await client.append_text(thread_id, "second")
    await record.wait_for_message(
        lambda m: (
            m.get("type") == "conversation.item.create"
            and m["item"]["content"][0]["text"] == "[USER] second"
        )
    )
    assert "response.create" not in _types(record.received)


async def test_requests_of_one_thread_run_in_order_and_threads_concurrently(
    client: Client, backend: Backend
) -> None:
    first, rec_a = await start_realtime(client, backend)
    second, rec_b = await start_realtime(client, backend)
    texts = [f"line {i}" for i in range(20)]
    await asyncio.gather(
        *(client.append_text(first, t) for t in texts),
        *(client.append_text(second, t.upper()) for t in texts),
    )
    for record, expected in ((rec_a, texts), (rec_b, [t.upper() for t in texts])):
        await record.wait_for_message(_user_text(expected[-1]))
        got = [
            m["item"]["content"][0]["text"]
            for m in record.received
            if m.get("type") == "conversation.item.create"
        ]
        assert got == [f"[USER] {t}" for t in expected]


async def test_background_agent_delegates_and_returns_function_output_then_response_create(
    client: Client, backend: Backend
) -> None:
    thread_id, record = await start_realtime(client, backend)
    mark = client.notification_count
    await record.send_event(
        {
            "type": "conversation.item.done",
            "item": {
                "id": "item_d",
                "type": "function_call",
                "name": "background_agent",
                "call_id": "call_d",
                "arguments": '{"prompt":"summarise the repo"}',
            },
        }
    )
    completed = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    turn = completed.params.turn
    assert completed.params.thread_id == thread_id and turn.status == "completed"
    output = await record.wait_for_message(
        lambda m: (
            m.get("type") == "conversation.item.create"
            and m["item"].get("type") == "function_call_output"
        )
    )
    assert output["item"] == {
        "type": "function_call_output",
        "call_id": "call_d",
        "output": COMPLETION_ACK,
    }
    index = record.received.index(output)
    await record.wait_for_message(
        lambda m: m.get("type") == "response.create" and record.received.index(m) > index
    )
    progress = [
        m["item"]["content"][0]["text"]
        for m in record.received[:index]
        if m.get("type") == "conversation.item.create" and m["item"].get("type") == "message"
    ]
    # The scripted agent answers the delegation's <input>, never its markup.
    assert progress == ["[BACKEND] You said: summarise the repo"]

    methods = _methods(client, mark)
    turn_methods = [m for m in methods if m.startswith(("turn/", "item/"))]
    deltas = turn_methods.count("item/agentMessage/delta")
    assert deltas > 1  # the answer streams in pieces
    assert turn_methods == [
        "turn/started",
        "item/started",  # the delegated text (userMessage)
        "item/completed",
        "item/started",  # the agent's answer
        *["item/agentMessage/delta"] * deltas,
        "item/completed",
        "turn/completed",
    ]
    answer = client.notifications("item/completed", start=mark)[-1].params.item
    assert answer.text == "You said: summarise the repo"
    pieces = client.notifications("item/agentMessage/delta", start=mark)
    assert "".join(n.params.delta for n in pieces) == answer.text
    assert [type(i).__name__ for i in turn.items] == ["UserMessageItem", "AgentMessageItem"]


async def test_experimental_gating(server: AppServer, client_factory: ClientFactory) -> None:
    stable = await client_factory(server.url, experimental=False)
    thread_id = (await stable.thread_start()).thread.id  # stable methods work
    for transport in (None, {"type": "webrtc", "sdp": "v=offer\r\n"}):
        params: dict[str, Any] = {"threadId": thread_id, "outputModality": "audio"}
        if transport is not None:
            params["transport"] = transport
        with pytest.raises(RpcError) as refused:
            await stable.request_raw("thread/realtime/start", params)
        assert refused.value.code == -32600
        assert (
            refused.value.rpc_message == "thread/realtime/start requires experimentalApi capability"
        )
        assert refused.value.data is None
    with pytest.raises(RpcError, match="thread/realtime/listVoices requires experimentalApi"):
        await stable.list_voices()


async def test_unknown_thread_is_an_invalid_request(client: Client) -> None:
    with pytest.raises(RpcError) as missing:
        await client.append_text("thr_missing", "hi")
    assert (missing.value.code, missing.value.rpc_message) == (
        -32600,
        "thread not found: thr_missing",
    )


async def test_client_disconnect_ends_its_realtime_conversations(
    server: AppServer, backend: Backend, client_factory: ClientFactory
) -> None:
    client = await client_factory(server.url)
    _, record_a = await start_realtime(client, backend)
    _, record_b = await start_realtime(client, backend)
    await client.aclose()
    await record_a.wait_closed(TIMEOUT)
    await record_b.wait_closed(TIMEOUT)


def test_start_params_schema_keeps_prompt_optional() -> None:
    fields = {f.encode_name: f for f in msgspec.structs.fields(ThreadRealtimeStartParams)}
    assert not fields["prompt"].required and fields["outputModality"].required

"""Conversation manager over WebSocket against the emulator (reference 9.5).

The opened session's settings are test_websocket_session_config.py's, barge-in
test_websocket_barge_in.py's.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from realtalk import ConversationNotRunningError
from realtalk.conversation import Closed, Realtime, Started, StartParams
from realtalk.emulator import Emulator, EmulatorOptions
from realtalk.protocol import (
    AudioFrame,
    ErrorEvent,
    OutputModality,
    OutputTranscriptDone,
    SessionUpdated,
    Version,
)

from ._ws_support import Factory, _errors, _is_closed, _is_started, _session_update, _silence_b64
from .conftest import make_settings


async def test_conversation_start_audio_text_close_round_trip(
    emulator: Emulator, manager_factory: Factory
) -> None:
    settings = make_settings(emulator.base_url, version=Version.V1, model="realtime-test")
    mgr, rec = manager_factory(settings)
    await mgr.start(StartParams(realtime_session_id="conv_1"))
    started = await rec.wait_for(_is_started)
    assert started == Started("conv_1", Version.V1)

    await emulator.wait_for_sessions(1)
    record = emulator.sessions[0]
    assert record.path_qs == "/v1/realtime?intent=quicksilver&model=realtime-test"
    assert record.headers["x-session-id"] == "conv_1"
    assert record.headers["Authorization"] == "Bearer sk-test-key"
    assert record.headers["openai-alpha"] == "quicksilver=v1"
    update = await _session_update(emulator)
    assert update["session"]["type"] == "quicksilver"
    assert update["session"]["audio"]["output"]["voice"] == "cove"

    await mgr.text_in("hello")
    await mgr.audio_in(AudioFrame(_silence_b64()))
    await record.wait_for_message(lambda m: m.get("type") == "input_audio_buffer.append")
    item = await record.wait_for_message(lambda m: m.get("type") == "conversation.item.create")
    assert item["item"]["content"][0]["text"] == "hello"  # v1: no prefix
    types = [m["type"] for m in record.received]
    assert types[0] == "session.update"

    await mgr.close()
    closed = await rec.wait_for(_is_closed)
    assert closed == Closed("requested")


async def test_v2_text_is_prefixed_and_append_only(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start()
    await rec.wait_for(_is_started)
    await mgr.text_in("hello there")
    record = emulator.sessions[0]
    item = await record.wait_for_message(lambda m: m.get("type") == "conversation.item.create")
    assert item["item"]["content"][0]["text"] == "[USER] hello there"
    # An explicit request asks for a response; plain text never does.
    assert not any(m["type"] == "response.create" for m in record.received)
    await mgr.request_response()
    done = await rec.wait_for(
        lambda e: isinstance(e, Realtime) and isinstance(e.payload, OutputTranscriptDone)
    )
    assert isinstance(done, Realtime) and isinstance(done.payload, OutputTranscriptDone)
    assert "hello there" in done.payload.text
    creates = [m for m in record.received if m["type"] == "response.create"]
    assert len(creates) == 1


async def test_without_reconnect_a_transport_close_emits_closed_event(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url, reconnect_max_retries=0))
    await mgr.start()
    await rec.wait_for(_is_started)
    await emulator.wait_for_sessions(1)
    await emulator.sessions[0].close()
    closed = await rec.wait_for(_is_closed)
    assert closed == Closed("transport_closed")
    assert _errors(rec) == []
    assert not mgr.running
    with pytest.raises(ConversationNotRunningError, match="conversation is not running"):
        await mgr.text_in("late")


async def test_audio_and_text_before_start_are_errors(manager_factory: Factory) -> None:
    mgr, _ = manager_factory(make_settings("http://127.0.0.1:9/v1"))
    with pytest.raises(ConversationNotRunningError, match="conversation is not running"):
        await mgr.audio_in(AudioFrame(_silence_b64()))
    with pytest.raises(ConversationNotRunningError, match="conversation is not running"):
        await mgr.text_in("hi")


async def test_preflight_failure_emits_realtime_error_only(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url, api_key=None))
    await mgr.start()
    err = await rec.wait_for(lambda e: isinstance(e, Realtime))
    assert isinstance(err, Realtime)
    assert err.payload == ErrorEvent("realtime conversation requires API key auth")
    await mgr.close()  # close always answers Closed{requested}
    await rec.wait_for(_is_closed)
    assert rec.of_type(Started) == []
    assert [c.reason for c in rec.of_type(Closed)] == ["requested"]
    assert emulator.sessions == []


@pytest.mark.parametrize(
    ("overrides", "params", "message"),
    [
        (
            {"version": Version.V1},
            StartParams(voice="marin"),
            "realtime voice `marin` is not supported for v1",
        ),
        ({}, StartParams(voice="cove"), "realtime voice `cove` is not supported for v2"),
        (
            {"version": Version.V1},
            StartParams(output_modality=OutputModality.TEXT),
            "text realtime output modality requires realtime v2",
        ),
    ],
)
async def test_preflight_rejects_bad_voice_and_text_with_v1(
    emulator: Emulator,
    manager_factory: Factory,
    overrides: dict[str, Any],
    params: StartParams,
    message: str,
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url, **overrides))
    await mgr.start(params)
    err = await rec.wait_for(lambda e: isinstance(e, Realtime))
    assert isinstance(err, Realtime) and isinstance(err.payload, ErrorEvent)
    assert err.payload.message.startswith(message)
    assert rec.of_type(Started) == [] and rec.of_type(Closed) == []


async def test_connect_failure_emits_realtime_error_only(manager_factory: Factory) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mgr, rec = manager_factory(make_settings(f"http://127.0.0.1:{port}/v1"))
    await mgr.start()
    err = await rec.wait_for(lambda e: isinstance(e, Realtime))
    assert isinstance(err, Realtime) and isinstance(err.payload, ErrorEvent)
    assert "could not connect to the realtime server" in err.payload.message
    assert "sk-test-key" not in err.payload.message
    assert rec.of_type(Started) == [] and rec.of_type(Closed) == []
    assert not mgr.running


async def test_second_start_replaces_runtime(emulator: Emulator, manager_factory: Factory) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start(StartParams(realtime_session_id="conv_old"))
    await rec.wait_for(_is_started)
    await mgr.start(StartParams(realtime_session_id="conv_new"))
    await rec.wait_for(lambda e: e == Started("conv_new", Version.V2))
    await emulator.wait_for_sessions(2)
    old, new = emulator.sessions
    assert old.headers["x-session-id"] == "conv_old"
    assert new.headers["x-session-id"] == "conv_new"
    old_count = len(old.received)
    await mgr.text_in("after replace")
    await new.wait_for_message(lambda m: m.get("type") == "conversation.item.create")
    assert len(old.received) == old_count
    assert rec.of_type(Closed) == []  # the replaced conversation emits no Closed


async def test_server_error_event_closes_with_error(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start()
    await rec.wait_for(_is_started)
    await emulator.wait_for_sessions(1)
    await emulator.sessions[0].send_event(
        {"type": "error", "error": {"type": "server_error", "message": "upstream boom"}}
    )
    closed = await rec.wait_for(_is_closed)
    assert closed == Closed("error")
    assert _errors(rec) == ["upstream boom"]
    # Error precedes Closed.
    kinds = [type(e).__name__ for e in rec.events if isinstance(e, Realtime | Closed)]
    assert kinds[-1] == "Closed"


async def test_active_response_error_does_not_close(
    emulator: Emulator, manager_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start()
    await rec.wait_for(_is_started)
    await emulator.wait_for_sessions(1)
    with caplog.at_level(logging.WARNING, logger="realtalk"):
        await emulator.sessions[0].send_event(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "conversation_already_has_active_response",
                    "message": "Conversation already has an active response in progress: resp_1",
                },
            }
        )
        await mgr.text_in("still alive?")
        await emulator.sessions[0].wait_for_message(
            lambda m: m.get("type") == "conversation.item.create"
        )
    assert mgr.running and rec.of_type(Closed) == []
    assert "raced an active response" in caplog.text


@pytest.mark.parametrize(
    ("options", "reason", "message"),
    [
        (
            EmulatorOptions(audio_realtime=False, binary_after_events=1),
            "error",
            "unexpected binary realtime websocket event",
        ),
        (EmulatorOptions(audio_realtime=False, close_after_events=2), "transport_closed", None),
    ],
)
async def test_fault_knobs_end_the_conversation_without_reconnect(
    manager_factory: Factory, options: EmulatorOptions, reason: str, message: str | None
) -> None:
    async with Emulator(options) as emu:
        await emu.start()
        mgr, rec = manager_factory(make_settings(emu.base_url, reconnect_max_retries=0))
        await mgr.start()
        closed = await rec.wait_for(_is_closed)
        assert isinstance(closed, Closed) and closed.reason == reason
        assert _errors(rec) == ([message] if message else [])


async def test_malformed_json_is_ignored_and_reading_continues(manager_factory: Factory) -> None:
    async with Emulator(EmulatorOptions(audio_realtime=False, malformed_after_events=0)) as emu:
        await emu.start()
        mgr, rec = manager_factory(make_settings(emu.base_url))
        await mgr.start()
        await rec.wait_for(_is_started)
        await rec.wait_for(
            lambda e: isinstance(e, Realtime) and isinstance(e.payload, SessionUpdated)
        )
        assert mgr.running and _errors(rec) == []


async def test_startup_logs_elapsed_fields(
    emulator: Emulator, manager_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    with caplog.at_level(logging.INFO, logger="realtalk"):
        await mgr.start()
        await rec.wait_for(_is_started)
    steps = [r for r in caplog.records if hasattr(r, "total_elapsed_ms")]
    assert [r.__dict__["step"] for r in steps][:2] == ["prepared", "websocket connected"]
    assert all(r.__dict__["elapsed_ms"] >= 0 for r in steps)
    totals = [r.__dict__["total_elapsed_ms"] for r in steps]
    assert totals == sorted(totals)


async def test_api_key_never_reaches_logs_even_at_debug(
    emulator: Emulator, manager_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    with caplog.at_level(logging.DEBUG):
        await mgr.start()
        await rec.wait_for(_is_started)
        await mgr.text_in("hello")
        await emulator.sessions[0].wait_for_message(
            lambda m: m.get("type") == "conversation.item.create"
        )
        await mgr.close()
    assert "Authorization" in caplog.text  # the handshake was logged...
    assert "sk-test-key" not in caplog.text  # ...without the key

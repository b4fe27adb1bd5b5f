"""Conversation manager over WebSocket against the emulator (reference 9.5)."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest

from realtalk import ConversationNotRunningError
from realtalk.conversation import (
    Closed,
    ConversationEvent,
    ConversationManager,
    Realtime,
    Started,
    StartParams,
)
from realtalk.emulator import Emulator, EmulatorOptions
from realtalk.protocol import (
    DEFAULT_BACKEND_PROMPT,
    AudioFrame,
    ErrorEvent,
    OutputModality,
    OutputTranscriptDone,
    SessionUpdated,
    Version,
)

from .conftest import Recorder, make_settings

Factory = Callable[..., tuple[ConversationManager, Recorder]]


def _is_started(e: ConversationEvent) -> bool:
    return isinstance(e, Started)


def _is_closed(e: ConversationEvent) -> bool:
    return isinstance(e, Closed)


def _errors(rec: Recorder) -> list[str]:
    return [e.payload.message for e in rec.of_type(Realtime) if isinstance(e.payload, ErrorEvent)]


def _silence_b64(ms: int = 20) -> str:
    return base64.b64encode(bytes(24 * 2 * ms)).decode()


async def _session_update(emulator: Emulator, index: int = 0) -> dict[str, Any]:
    record = emulator.sessions[index]
    return await record.wait_for_message(lambda m: m.get("type") == "session.update")


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


async def test_conversation_start_defaults_to_v2_and_gpt_realtime_1_5(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start()
    started = await rec.wait_for(_is_started)
    assert isinstance(started, Started) and started.version is Version.V2
    await emulator.wait_for_sessions(1)
    assert emulator.sessions[0].path_qs == "/v1/realtime?model=gpt-realtime-1.5"
    assert "openai-alpha" not in {k.lower() for k in emulator.sessions[0].headers}
    update = await _session_update(emulator)
    assert update["session"]["audio"]["output"]["voice"] == "marin"
    names = [t["name"] for t in update["session"]["tools"]]
    assert names == [
        "background_agent",
        "remain_silent",
        "cancel_background_agent",
        "answer_approval",
    ]
    # The server's session.updated comes back as a typed event.
    await rec.wait_for(lambda e: isinstance(e, Realtime) and isinstance(e.payload, SessionUpdated))


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


async def test_uses_realtime_ws_base_url_override(manager_factory: Factory) -> None:
    async with (
        Emulator(EmulatorOptions(audio_realtime=False)) as api,
        Emulator(EmulatorOptions(audio_realtime=False)) as realtime,
    ):
        await api.start()
        await realtime.start()
        settings = make_settings(api.base_url, realtime_ws_base_url=realtime.base_url)
        mgr, rec = manager_factory(settings)
        await mgr.start()
        await rec.wait_for(_is_started)
        await realtime.wait_for_sessions(1)
        assert api.sessions == []


async def test_default_backend_prompt_and_startup_context(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url, startup_context="CTX"))
    await mgr.start()
    await rec.wait_for(_is_started)
    update = await _session_update(emulator)
    assert update["session"]["instructions"] == DEFAULT_BACKEND_PROMPT + "\n\nCTX"


@pytest.mark.parametrize("prompt", [None, ""])
async def test_null_or_empty_prompt_gives_empty_instructions(
    emulator: Emulator, manager_factory: Factory, prompt: str | None
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start(StartParams(prompt=prompt))
    await rec.wait_for(_is_started)
    update = await _session_update(emulator)
    assert update["session"]["instructions"] == ""


async def test_config_backend_prompt_beats_start_prompt(
    emulator: Emulator, manager_factory: Factory
) -> None:
    settings = make_settings(emulator.base_url, backend_prompt="from config", startup_context="")
    mgr, rec = manager_factory(settings)
    await mgr.start(StartParams(prompt="from request"))
    await rec.wait_for(_is_started)
    update = await _session_update(emulator)
    assert update["session"]["instructions"] == "from config"


async def test_generated_startup_context_is_bounded(
    emulator: Emulator, manager_factory: Factory, tmp_path: Any
) -> None:
    for i in range(50):
        (tmp_path / f"file_{i}.txt").write_text("x")
    settings = make_settings(emulator.base_url, startup_context=None)
    mgr, rec = manager_factory(settings, workspace=tmp_path)
    await mgr.start(StartParams(prompt="P"))
    await rec.wait_for(_is_started)
    instructions = (await _session_update(emulator))["session"]["instructions"]
    assert instructions.startswith("P\n\n<startup_context>")
    assert "file_0.txt" in instructions and "more)" in instructions
    assert len(instructions) <= 20_500


async def test_explicit_and_configured_voice(emulator: Emulator, manager_factory: Factory) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url, voice="cedar"))
    await mgr.start()
    await rec.wait_for(_is_started)
    assert (await _session_update(emulator))["session"]["audio"]["output"]["voice"] == "cedar"
    await mgr.start(StartParams(voice="sage"))
    await emulator.wait_for_sessions(2)
    update = await _session_update(emulator, 1)
    assert update["session"]["audio"]["output"]["voice"] == "sage"


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


class _Player:
    """A playback clock that has played a fixed amount of each item."""

    def __init__(self, played: dict[str, float]) -> None:
        self.played = played
        self.asked: list[str] = []

    def played_ms(self, item_id: str) -> float | None:
        self.asked.append(item_id)
        return self.played.get(item_id)


async def _barge_in(record: Any, assistant_item: str, chunks: int) -> dict[str, Any]:
    pcm = base64.b64encode(bytes(24 * 2 * 100)).decode()  # 100 ms
    await record.send_event({"type": "response.created", "response": {"id": "resp_a"}})
    for _ in range(chunks):
        await record.send_event(
            {"type": "response.output_audio.delta", "item_id": assistant_item, "delta": pcm}
        )
    # As the real API does it: speech_started names the *new user* item.
    await record.send_event(
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 900, "item_id": "item_u2"}
    )
    truncate: dict[str, Any] = await record.wait_for_message(
        lambda m: m.get("type") == "conversation.item.truncate"
    )
    return truncate


async def test_v2_barge_in_truncates_the_playing_item_at_the_players_position(
    emulator: Emulator, manager_factory: Factory
) -> None:
    player = _Player({"item_a": 120.0})
    mgr, rec = manager_factory(make_settings(emulator.base_url), playback=player)
    await mgr.start()
    await rec.wait_for(_is_started)
    truncate = await _barge_in(emulator.sessions[0], "item_a", 3)
    assert player.asked == ["item_a"]
    assert truncate == {
        "type": "conversation.item.truncate",
        "item_id": "item_a",
        "content_index": 0,
        "audio_end_ms": 120,
        "event_id": "realtalk_truncate_1",
    }


async def test_v2_barge_in_without_a_player_uses_the_wall_clock_clamped_to_received_audio(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start()
    await rec.wait_for(_is_started)
    record = emulator.sessions[0]
    truncate = await _barge_in(record, "item_b", 3)
    assert truncate["item_id"] == "item_b"
    # Wall time since the first delta: a few ms here, never more than the 300 ms received.
    assert 0 <= truncate["audio_end_ms"] < 300
    # The emulator acknowledged it; the conversation goes on.
    await record.wait_for_sent(lambda e: e.get("type") == "conversation.item.truncated")
    assert mgr.running


async def test_a_refused_truncate_does_not_end_the_conversation(
    emulator: Emulator, manager_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url), playback=_Player({"x": 0.0}))
    await mgr.start()
    await rec.wait_for(_is_started)
    record = emulator.sessions[0]
    with caplog.at_level(logging.WARNING, logger="realtalk"):
        truncate = await _barge_in(record, "x", 1)
        # What the real API answers for a position past the item's audio (wire facts 1).
        await record.send_event(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "invalid_value",
                    "message": "Audio content of 0ms is already shorter than 1ms",
                    "event_id": truncate["event_id"],
                },
            }
        )
        await mgr.text_in("still here")
        await record.wait_for_message(lambda m: m.get("type") == "conversation.item.create")
    assert mgr.running and rec.of_type(Closed) == []
    assert _errors(rec) == []
    assert "the server refused a truncate" in caplog.text


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

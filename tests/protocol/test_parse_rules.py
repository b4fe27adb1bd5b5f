"""Field alternatives, defaults, error events, handoff arguments and ignored frames."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from realtalk.protocol import (
    BINARY_FRAME_ERROR,
    AudioFrame,
    AudioOut,
    CancelRequested,
    ConversationItemDone,
    ErrorEvent,
    HandoffRequested,
    InputAudioSpeechStarted,
    NoopRequested,
    OutputTranscriptDelta,
    RealtimeEvent,
    ResponseCancelled,
    ResponseCreated,
    ResponseDone,
    ServerEventParser,
    SessionUpdated,
    Version,
)

BOTH = pytest.mark.parametrize("version", [Version.V1, Version.V2])


def parse(version: Version, payload: Any) -> RealtimeEvent | None:
    return ServerEventParser(version).parse(json.dumps(payload))


# --- audio ---------------------------------------------------------------------------


def test_v1_audio_accepts_data_and_num_channels_alternatives() -> None:
    payload = {
        "type": "conversation.output_audio.delta",
        "data": "AQID",
        "sample_rate": 24000,
        "num_channels": 2,
    }
    assert parse(Version.V1, payload) == AudioOut(AudioFrame("AQID", 24000, 2))


def test_v1_audio_prefers_delta_over_data_and_skips_non_string_delta() -> None:
    base = {"type": "conversation.output_audio.delta", "sample_rate": 16000, "channels": 1}
    assert parse(Version.V1, {**base, "delta": "A", "data": "B"}) == AudioOut(
        AudioFrame("A", 16000, 1)
    )
    assert parse(Version.V1, {**base, "delta": 5, "data": "B"}) == AudioOut(
        AudioFrame("B", 16000, 1)
    )


@pytest.mark.parametrize("missing", ["delta", "sample_rate", "channels"])
def test_v1_audio_requires_data_rate_and_channels(missing: str) -> None:
    payload = {
        "type": "conversation.output_audio.delta",
        "delta": "AQID",
        "sample_rate": 24000,
        "channels": 1,
    }
    del payload[missing]
    assert parse(Version.V1, payload) is None


def test_v1_audio_present_channels_key_wins_over_num_channels() -> None:
    # Like the reference: `channels` is used whenever the key exists, valid or not.
    payload = {
        "type": "conversation.output_audio.delta",
        "delta": "AQID",
        "sample_rate": 24000,
        "channels": "two",
        "num_channels": 2,
    }
    assert parse(Version.V1, payload) is None


@pytest.mark.parametrize("bad_rate", [-1, 2**32, 24000.5, True, "24000", None])
def test_v1_audio_rejects_out_of_range_or_non_integer_sample_rate(bad_rate: Any) -> None:
    payload = {
        "type": "conversation.output_audio.delta",
        "delta": "AQID",
        "sample_rate": bad_rate,
        "channels": 1,
    }
    assert parse(Version.V1, payload) is None


def test_v1_audio_never_carries_item_id() -> None:
    payload = {
        "type": "conversation.output_audio.delta",
        "delta": "AQID",
        "sample_rate": 24000,
        "channels": 1,
        "item_id": "item_1",
    }
    assert parse(Version.V1, payload) == AudioOut(AudioFrame("AQID", 24000, 1, None, None))


def test_v2_audio_uses_given_shape_and_treats_bad_optionals_as_absent() -> None:
    payload = {
        "type": "response.output_audio.delta",
        "delta": "AQID",
        "sample_rate": 16000,
        "num_channels": 2,
        "samples_per_channel": 320,
        "item_id": "item_1",
    }
    assert parse(Version.V2, payload) == AudioOut(AudioFrame("AQID", 16000, 2, 320, "item_1"))
    bad = {
        "type": "response.output_audio.delta",
        "delta": "AQID",
        "sample_rate": "fast",
        "channels": 70000,
        "samples_per_channel": -5,
        "item_id": 7,
    }
    assert parse(Version.V2, bad) == AudioOut(AudioFrame("AQID", 24000, 1, None, None))


def test_v2_audio_requires_string_delta() -> None:
    assert parse(Version.V2, {"type": "response.output_audio.delta"}) is None
    assert parse(Version.V2, {"type": "response.audio.delta", "delta": 1}) is None


# --- common events -------------------------------------------------------------------


@BOTH
def test_session_updated_requires_session_id(version: Version) -> None:
    assert parse(version, {"type": "session.updated", "session": {"instructions": "x"}}) is None
    assert parse(version, {"type": "session.updated", "session": "sess"}) is None
    assert parse(
        version, {"type": "session.updated", "session": {"id": "s", "instructions": 3}}
    ) == (SessionUpdated("s", None))


@BOTH
def test_error_event_message_sources(version: Version) -> None:
    assert parse(version, {"type": "error", "message": "top"}) == ErrorEvent("top")
    nested = {"type": "error", "error": {"message": "upstream boom", "code": "server_error"}}
    assert parse(version, nested) == ErrorEvent("upstream boom", code="server_error")
    both = {"type": "error", "message": "top", "error": {"message": "inner", "code": "c"}}
    assert parse(version, both) == ErrorEvent("top", code="c")
    raw = {"type": "error", "error": {"code": "rate_limited", "param": None}}
    assert parse(version, raw) == ErrorEvent(
        '{"code":"rate_limited","param":null}', code="rate_limited"
    )
    assert parse(version, {"type": "error", "error": "plain"}) == ErrorEvent('"plain"')
    assert parse(version, {"type": "error", "error": None}) == ErrorEvent("null")


@BOTH
def test_error_event_without_message_or_error_is_ignored(version: Version) -> None:
    assert parse(version, {"type": "error"}) is None
    assert parse(version, {"type": "error", "message": 5}) is None


def test_active_response_error_keeps_code() -> None:
    payload = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "conversation_already_has_active_response",
            "message": "Conversation already has an active response in progress: resp_1.",
        },
    }
    event = parse(Version.V2, payload)
    assert isinstance(event, ErrorEvent)
    assert event.code == "conversation_already_has_active_response"


# --- v2 specifics --------------------------------------------------------------------


def test_v2_response_ids_fall_back_to_top_level_response_id() -> None:
    assert parse(Version.V2, {"type": "response.created", "response_id": "r1"}) == (
        ResponseCreated("r1")
    )
    assert parse(
        Version.V2, {"type": "response.cancelled", "response": "x", "response_id": "r2"}
    ) == (ResponseCancelled("r2"))
    assert parse(
        Version.V2, {"type": "response.done", "response": {"id": "r3"}, "response_id": "r4"}
    ) == ResponseDone("r3")
    assert parse(Version.V2, {"type": "response.done"}) == ResponseDone(None)


def test_v2_speech_started_without_item_id() -> None:
    assert parse(Version.V2, {"type": "input_audio_buffer.speech_started"}) == (
        InputAudioSpeechStarted(None)
    )


def _tool_call(**item: Any) -> dict[str, Any]:
    return {"type": "conversation.item.done", "item": {"type": "function_call", **item}}


def test_v2_handoff_ids_fall_back_to_each_other() -> None:
    only_id = _tool_call(name="background_agent", id="item_1", arguments="")
    assert parse(Version.V2, only_id) == HandoffRequested("item_1", "item_1", "")
    only_call = _tool_call(name="background_agent", call_id="call_1", arguments="go")
    assert parse(Version.V2, only_call) == HandoffRequested("call_1", "call_1", "go")
    silent = _tool_call(name="remain_silent", call_id="call_2")
    assert parse(Version.V2, silent) == NoopRequested("call_2", "call_2")
    assert parse(Version.V2, _tool_call(name="background_agent")) is None


def test_v2_cancel_call_is_a_cancel_request() -> None:
    # realtalk's own tool (see CANCEL_AGENT_TOOL); its arguments are ignored.
    cancel = _tool_call(name="cancel_background_agent", id="item_3", call_id="call_3")
    assert parse(Version.V2, cancel) == CancelRequested("call_3", "item_3")
    # v1 has no function tools: the item is only an item.
    assert parse(Version.V1, cancel) == ConversationItemDone("item_3")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"prompt":"  fix the bug  "}', "fix the bug"),
        ('{"input_transcript":"a","input":"b","text":"c","prompt":"d","query":"e"}', "a"),
        ('{"input_transcript":"  ","input":"b","prompt":"d"}', "b"),
        ('{"text":"c","prompt":"d"}', "c"),
        ('{"query":"e"}', "e"),
        ('{"prompt":5,"query":"e"}', "e"),
        ('{"other":"x"}', '{"other":"x"}'),
        ('{"prompt":"   "}', '{"prompt":"   "}'),
        ('["prompt"]', '["prompt"]'),
        ("not json", "not json"),
        ("", ""),
    ],
)
def test_v2_handoff_arguments_rule(arguments: str, expected: str) -> None:
    payload = _tool_call(name="background_agent", id="i", call_id="c", arguments=arguments)
    assert parse(Version.V2, payload) == HandoffRequested("c", "i", expected)


def test_v2_handoff_non_string_arguments_count_as_empty() -> None:
    payload = _tool_call(name="background_agent", id="i", call_id="c", arguments={"prompt": "x"})
    assert parse(Version.V2, payload) == HandoffRequested("c", "i", "")


def test_v2_other_function_calls_are_plain_item_done() -> None:
    payload = _tool_call(name="shell", id="item_9", call_id="call_9", arguments="{}")
    assert parse(Version.V2, payload) == ConversationItemDone("item_9")


def test_v1_function_call_item_done_is_not_a_handoff() -> None:
    payload = _tool_call(name="background_agent", id="item_9", call_id="call_9", arguments="x")
    assert parse(Version.V1, payload) == ConversationItemDone("item_9")


@BOTH
def test_item_done_requires_item_object_with_id(version: Version) -> None:
    assert parse(version, {"type": "conversation.item.done", "item": {"type": "message"}}) is None
    assert parse(version, {"type": "conversation.item.done", "item": "item_1"}) is None
    assert parse(version, {"type": "conversation.item.done"}) is None


# --- ignored frames ------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "",
        "[]",
        '"session.updated"',
        "null",
        "{}",
        '{"type": 5}',
        '{"type": "rate_limits.updated", "rate_limits": []}',
        '{"type": "conversation.item.input_audio_transcription.delta"}',
        '{"type": "conversation.item.added", "item": [1]}',
        '{"type": "\\ud800"}',
    ],
)
def test_unusable_frames_are_ignored(version: Version, frame: str) -> None:
    parser = ServerEventParser(version)
    assert parser.parse(frame) is None
    assert parser.parse(frame.encode("utf-8", "surrogatepass")) is None


def test_lone_surrogate_in_str_frame_is_ignored() -> None:
    assert ServerEventParser(Version.V2).parse('{"type":"x","d":"\ud800"}') is None


def test_version_specific_types_are_ignored_by_the_other_version() -> None:
    v1_only = [
        {"type": "conversation.output_audio.delta", "delta": "A", "sample_rate": 1, "channels": 1},
        {"type": "conversation.input_transcript.delta", "delta": "x"},
        {"type": "conversation.output_transcript.delta", "delta": "x"},
        {"type": "conversation.input_transcript.turn_marked", "transcript": "x"},
        {
            "type": "conversation.handoff.requested",
            "handoff_id": "h",
            "item_id": "i",
            "input_transcript": "t",
        },
    ]
    v2_only = [
        {"type": "response.output_audio.delta", "delta": "A"},
        {"type": "response.audio.delta", "delta": "A"},
        {"type": "response.output_text.done", "text": "x"},
        {"type": "input_audio_buffer.speech_started"},
        {"type": "conversation.item.created", "item": {}},
        {"type": "response.created"},
        {"type": "response.cancelled"},
        {"type": "response.done"},
    ]
    for payload in v1_only:
        assert parse(Version.V1, payload) is not None, payload
        assert parse(Version.V2, payload) is None, payload
    for payload in v2_only:
        assert parse(Version.V2, payload) is not None, payload
        assert parse(Version.V1, payload) is None, payload


def test_bytes_and_str_frames_parse_alike() -> None:
    frame = '{"type":"response.output_text.delta","delta":"h\\u00e9"}'
    parser = ServerEventParser(Version.V2)
    event = parser.parse(frame)
    assert event == OutputTranscriptDelta("h\u00e9")
    assert parser.parse(frame.encode()) == event


@BOTH
def test_parse_binary_is_an_error_event(version: Version) -> None:
    assert ServerEventParser(version).parse_binary(b"\x00\x01") == ErrorEvent(BINARY_FRAME_ERROR)
    assert BINARY_FRAME_ERROR == "unexpected binary realtime websocket event"


@pytest.mark.parametrize(
    ("frame", "event_type", "reason"),
    [
        ("{oops", "None", "invalid JSON"),
        ("[1]", "None", "not a JSON object"),
        ('{"delta": "x"}', "None", "missing type"),
        ('{"type": "rate_limits.updated"}', "rate_limits.updated", "unsupported event type"),
        (
            '{"type": "response.output_text.delta"}',
            "response.output_text.delta",
            "missing or invalid field",
        ),
        ('{"type": "error"}', "error", "missing or invalid required field"),
    ],
)
def test_ignored_frames_log_type_and_reason_at_debug(
    caplog: pytest.LogCaptureFixture, frame: str, event_type: str, reason: str
) -> None:
    with caplog.at_level(logging.DEBUG, logger="realtalk.protocol._codec"):
        assert ServerEventParser(Version.V2).parse(frame) is None
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert str(record.__dict__["event_type"]) == event_type
    assert record.__dict__["reason"].startswith(reason)
    assert reason in record.getMessage()


def test_every_wire_struct_maps_itself() -> None:
    from realtalk.protocol._wire import Wire

    def concrete(cls: type[Wire]) -> list[type[Wire]]:
        found: list[type[Wire]] = []
        for sub in cls.__subclasses__():
            found.append(sub)
            found.extend(concrete(sub))
        return found

    subclasses = concrete(Wire)
    assert len(subclasses) >= 10
    missing = [cls.__name__ for cls in subclasses if cls.to_event is Wire.to_event]
    assert missing == []

"""The reference's parser unit tests (reference 9.1), one test per upstream test name."""

from __future__ import annotations

import json
from typing import Any

from realtalk.protocol import (
    AudioFrame,
    AudioOut,
    ConversationItemAdded,
    ConversationItemDone,
    HandoffRequested,
    InputAudioSpeechStarted,
    InputTranscriptDelta,
    InputTranscriptDone,
    NoopRequested,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    RealtimeEvent,
    ResponseCancelled,
    ResponseCreated,
    ResponseDone,
    ServerEventParser,
    SessionUpdated,
    Version,
)


def v1(payload: dict[str, Any]) -> RealtimeEvent | None:
    return ServerEventParser(Version.V1).parse(json.dumps(payload))


def v2(payload: dict[str, Any]) -> RealtimeEvent | None:
    return ServerEventParser(Version.V2).parse(json.dumps(payload))


def test_parse_session_updated_event() -> None:
    payload = {
        "type": "session.updated",
        "session": {"id": "sess_123", "instructions": "backend prompt"},
    }
    assert v1(payload) == SessionUpdated(
        realtime_session_id="sess_123", instructions="backend prompt"
    )
    assert v2(payload) == SessionUpdated(
        realtime_session_id="sess_123", instructions="backend prompt"
    )


def test_parse_audio_delta_event() -> None:
    payload = {
        "type": "conversation.output_audio.delta",
        "delta": "AAA=",
        "sample_rate": 48000,
        "channels": 1,
        "samples_per_channel": 960,
    }
    assert v1(payload) == AudioOut(
        AudioFrame(data="AAA=", sample_rate=48000, num_channels=1, samples_per_channel=960)
    )


def test_parse_conversation_item_added_event() -> None:
    payload = {"type": "conversation.item.added", "item": {"type": "message", "seq": 7}}
    assert v1(payload) == ConversationItemAdded(item={"type": "message", "seq": 7})


def test_parse_conversation_item_done_event() -> None:
    payload = {"type": "conversation.item.done", "item": {"id": "item_123", "type": "message"}}
    assert v1(payload) == ConversationItemDone(item_id="item_123")


def test_parse_handoff_requested_event() -> None:
    payload = {
        "type": "conversation.handoff.requested",
        "handoff_id": "handoff_123",
        "item_id": "item_123",
        "input_transcript": "delegate this",
    }
    event = v1(payload)
    assert event == HandoffRequested(
        handoff_id="handoff_123", item_id="item_123", input_transcript="delegate this"
    )
    assert isinstance(event, HandoffRequested)
    assert event.active_transcript == ()


def test_parse_input_transcript_delta_event() -> None:
    payload = {"type": "conversation.input_transcript.delta", "delta": "hello "}
    assert v1(payload) == InputTranscriptDelta(delta="hello ")


def test_parse_v1_input_audio_transcription_delta_event() -> None:
    payload = {
        "type": "conversation.item.input_audio_transcription.delta",
        "item_id": "item_input_1",
        "content_index": 0,
        "delta": "hello",
    }
    assert v1(payload) == InputTranscriptDelta(delta="hello")


def test_parse_v1_input_audio_transcription_completed_event() -> None:
    payload = {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item_input_1",
        "content_index": 0,
        "transcript": "hello world",
    }
    assert v1(payload) == InputTranscriptDone(text="hello world")


def test_parse_v1_input_transcript_turn_marked_event() -> None:
    payload = {"type": "conversation.input_transcript.turn_marked", "transcript": "hello realtime"}
    assert v1(payload) == InputTranscriptDone(text="hello realtime")


def test_parse_output_transcript_delta_event() -> None:
    payload = {"type": "conversation.output_transcript.delta", "delta": "hi"}
    assert v1(payload) == OutputTranscriptDelta(delta="hi")


def test_parse_v1_output_text_delta_event() -> None:
    payload = {"type": "response.output_text.delta", "delta": "hi"}
    assert v1(payload) == OutputTranscriptDelta(delta="hi")


def test_parse_v1_output_audio_transcript_delta_event() -> None:
    payload = {"type": "response.output_audio_transcript.delta", "delta": "hi"}
    assert v1(payload) == OutputTranscriptDelta(delta="hi")


def test_parse_v1_output_audio_transcript_done_event() -> None:
    payload = {"type": "response.output_audio_transcript.done", "transcript": "hi there"}
    assert v1(payload) == OutputTranscriptDone(text="hi there")


def _assistant_item_done() -> dict[str, Any]:
    return {
        "type": "conversation.item.done",
        "item": {
            "id": "item_output_1",
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "hello"},
                {"type": "output_text", "text": " world"},
            ],
        },
    }


def test_parse_v1_item_done_output_text_event() -> None:
    assert v1(_assistant_item_done()) == ConversationItemDone(item_id="item_output_1")


def test_parse_realtime_v2_handoff_tool_call_event() -> None:
    payload = {
        "type": "conversation.item.done",
        "item": {
            "id": "item_123",
            "type": "function_call",
            "name": "background_agent",
            "call_id": "call_123",
            "arguments": '{"prompt":"delegate this"}',
        },
    }
    assert v2(payload) == HandoffRequested(
        handoff_id="call_123", item_id="item_123", input_transcript="delegate this"
    )


def test_parse_realtime_v2_noop_tool_call_event() -> None:
    payload = {
        "type": "conversation.item.done",
        "item": {
            "id": "item_silent",
            "type": "function_call",
            "name": "remain_silent",
            "call_id": "call_silent",
            "arguments": "{}",
        },
    }
    assert v2(payload) == NoopRequested(call_id="call_silent", item_id="item_silent")


def test_parse_realtime_v2_input_audio_transcription_delta_event() -> None:
    payload = {
        "type": "conversation.item.input_audio_transcription.delta",
        "item_id": "item_input_1",
        "content_index": 0,
        "delta": "hello",
    }
    assert v2(payload) == InputTranscriptDelta(delta="hello")


def test_parse_realtime_v2_input_audio_transcription_completed_event() -> None:
    payload = {
        "type": "conversation.item.input_audio_transcription.completed",
        "transcript": "hello world",
    }
    assert v2(payload) == InputTranscriptDone(text="hello world")


def test_parse_realtime_v2_output_transcript_delta_events() -> None:
    for event_type in ("response.output_text.delta", "response.output_audio_transcript.delta"):
        assert v2({"type": event_type, "delta": "hi"}) == OutputTranscriptDelta(delta="hi")


def test_parse_realtime_v2_output_audio_transcript_done_event() -> None:
    payload = {"type": "response.output_audio_transcript.done", "transcript": "hello there"}
    assert v2(payload) == OutputTranscriptDone(text="hello there")


def test_parse_realtime_v2_output_text_done_event() -> None:
    payload = {"type": "response.output_text.done", "text": "hello there"}
    assert v2(payload) == OutputTranscriptDone(text="hello there")


def test_parse_realtime_v2_conversation_item_created_event() -> None:
    payload = {"type": "conversation.item.created", "item": {"type": "message", "role": "user"}}
    assert v2(payload) == ConversationItemAdded(item={"type": "message", "role": "user"})
    added = {"type": "conversation.item.added", "item": {"type": "message", "role": "user"}}
    assert v2(added) == ConversationItemAdded(item={"type": "message", "role": "user"})


def test_parse_realtime_v2_item_done_output_text_event() -> None:
    assert v2(_assistant_item_done()) == ConversationItemDone(item_id="item_output_1")


def test_parse_realtime_v2_output_audio_delta_defaults_audio_shape() -> None:
    payload = {"type": "response.output_audio.delta", "delta": "AQID"}
    assert v2(payload) == AudioOut(
        AudioFrame(
            data="AQID", sample_rate=24000, num_channels=1, samples_per_channel=None, item_id=None
        )
    )


def test_parse_realtime_v2_response_audio_delta_with_item_id() -> None:
    payload = {"type": "response.audio.delta", "delta": "AQID", "item_id": "item_audio_1"}
    assert v2(payload) == AudioOut(
        AudioFrame(data="AQID", sample_rate=24000, num_channels=1, item_id="item_audio_1")
    )


def test_parse_realtime_v2_speech_started_event() -> None:
    payload = {"type": "input_audio_buffer.speech_started", "item_id": "item_input_1"}
    assert v2(payload) == InputAudioSpeechStarted(item_id="item_input_1")


def test_parse_realtime_v2_response_cancelled_event() -> None:
    payload = {"type": "response.cancelled", "response": {"id": "resp_cancelled_1"}}
    assert v2(payload) == ResponseCancelled(response_id="resp_cancelled_1")


def test_parse_realtime_v2_response_done_event() -> None:
    # A function call inside response.done.output is not a handoff.
    payload = {
        "type": "response.done",
        "response": {
            "output": [
                {
                    "id": "item_123",
                    "type": "function_call",
                    "name": "background_agent",
                    "call_id": "call_123",
                    "arguments": '{"prompt":"delegate from done"}',
                }
            ]
        },
    }
    assert v2(payload) == ResponseDone(response_id=None)


def test_parse_realtime_v2_response_created_event() -> None:
    payload = {"type": "response.created", "response": {"id": "resp_created_1"}}
    assert v2(payload) == ResponseCreated(response_id="resp_created_1")

"""Client messages and session.update payloads (reference 2.3, 9.1)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from realtalk.protocol import (
    ANSWER_APPROVAL_DESCRIPTION,
    BACKGROUND_AGENT_TOOL,
    CANCEL_AGENT_DESCRIPTION,
    Mode,
    OutputModality,
    SessionConfig,
    Version,
    backend_text_item,
    encode,
    function_call_output,
    handoff_append,
    input_audio_append,
    item_truncate,
    response_create,
    session_update,
    user_text_item,
)

D1 = (
    "Send a user request to the background agent. Use this as the default action. Do not "
    "rephrase the user's ask or rewrite it in your own words; pass along the user's own words. "
    "If the background agent is idle, this starts a new task and returns the final result to "
    "the user. If the background agent is already working on a task, this sends the request as "
    "guidance to steer that previous task. If the user asks to do something next, later, after "
    "this, or once current work finishes, call this tool so the work is actually queued instead "
    "of merely promising to do it later."
)
D2 = (
    "Call this when the best response is to say nothing. Use it instead of speaking after hidden "
    "system/control messages, after background agent updates in silent modes, or whenever "
    "acknowledging aloud would be distracting. This tool has no user-visible effect."
)


def wire(message: dict[str, Any]) -> Any:
    """What the server sees: the encoded frame, decoded again."""
    return json.loads(encode(message))


def test_realtime_v2_session_update_includes_background_agent_tool_and_handoff_output_item() -> (
    None
):
    config = SessionConfig(instructions="backend prompt", session_id="conv_1")
    assert wire(session_update(config)) == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "backend prompt",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "noise_reduction": {"type": "near_field"},
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                    "turn_detection": {
                        "type": "server_vad",
                        "interrupt_response": True,
                        "create_response": True,
                        "silence_duration_ms": 500,
                    },
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
            },
            "tools": [
                {
                    "type": "function",
                    "name": "background_agent",
                    "description": D1,
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "prompt": {
                                "type": "string",
                                "description": "The user request to delegate to the background agent.",
                            }
                        },
                        "required": ["prompt"],
                        "additionalProperties": False,
                    },
                },
                {
                    "type": "function",
                    "name": "remain_silent",
                    "description": D2,
                    "parameters": {
                        "type": "object",
                        "properties": {},
                        "additionalProperties": False,
                    },
                },
                # realtalk's own tools, after the reference's two (byte for byte above).
                {
                    "type": "function",
                    "name": "cancel_background_agent",
                    "description": CANCEL_AGENT_DESCRIPTION,
                    "parameters": {
                        "type": "object",
                        "properties": {},
                        "additionalProperties": False,
                    },
                },
                {
                    "type": "function",
                    "name": "answer_approval",
                    "description": ANSWER_APPROVAL_DESCRIPTION,
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "approved": {
                                "type": "boolean",
                                "description": "true: the user said yes; false: the user said no.",
                            },
                            "request_id": {
                                "type": "string",
                                "description": "The request_id of the question being answered.",
                            },
                        },
                        "required": ["approved"],
                        "additionalProperties": False,
                    },
                },
            ],
            "tool_choice": "auto",
        },
    }
    assert wire(function_call_output("call_1", "delegated result")) == {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": "delegated result"},
    }


def test_v2_session_update_text_modality_and_voice() -> None:
    config = SessionConfig("p", output_modality=OutputModality.TEXT, voice="cedar")
    session = wire(session_update(config))["session"]
    assert session["output_modalities"] == ["text"]
    assert session["audio"]["output"]["voice"] == "cedar"


def test_transcription_mode_session_update_omits_output_audio_and_instructions() -> None:
    config = SessionConfig("backend prompt", mode=Mode.TRANSCRIPTION, voice="cedar")
    assert wire(session_update(config)) == {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                }
            },
        },
    }


def test_v1_transcription_mode_is_treated_as_conversational() -> None:
    expected = {
        "type": "session.update",
        "session": {
            "type": "quicksilver",
            "instructions": "backend prompt",
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}},
                "output": {"voice": "cove"},
            },
        },
    }
    for mode in Mode:
        config = SessionConfig("backend prompt", version=Version.V1, mode=mode)
        assert wire(session_update(config)) == expected


def test_v1_session_update_uses_configured_voice() -> None:
    config = SessionConfig("p", version=Version.V1, voice="breeze")
    assert wire(session_update(config))["session"]["audio"]["output"] == {"voice": "breeze"}


def test_session_update_never_includes_id_or_model() -> None:
    for version in Version:
        for mode in Mode:
            config = SessionConfig("p", model="m", version=version, mode=mode, session_id="s")
            session = wire(session_update(config))["session"]
            assert "id" not in session
            assert "model" not in session


def test_session_payload_does_not_share_tool_constants() -> None:
    message = session_update(SessionConfig("p"))
    message["session"]["tools"][0]["parameters"]["required"].append("mutated")
    assert BACKGROUND_AGENT_TOOL["parameters"]["required"] == ["prompt"]


def test_input_audio_append() -> None:
    assert wire(input_audio_append("AQID")) == {
        "type": "input_audio_buffer.append",
        "audio": "AQID",
    }


def _text_of(message: dict[str, Any]) -> str:
    assert message["type"] == "conversation.item.create"
    item = message["item"]
    assert item["type"] == "message"
    assert item["role"] == "user"
    [content] = item["content"]
    assert content["type"] == "input_text"
    text = content["text"]
    assert isinstance(text, str)
    return text


def test_user_text_item_prefixes_only_v2() -> None:
    assert _text_of(user_text_item(Version.V1, "hello agent")) == "hello agent"
    assert _text_of(user_text_item(Version.V2, "hello")) == "[USER] hello"
    assert _text_of(user_text_item(Version.V2, "[USER] hello")) == "[USER] hello"
    assert _text_of(user_text_item(Version.V2, "")) == ""
    assert _text_of(user_text_item(Version.V2, "[USER]hello")) == "[USER] [USER]hello"


def test_backend_text_item_prefix() -> None:
    assert _text_of(backend_text_item("tests pass")) == "[BACKEND] tests pass"
    assert _text_of(backend_text_item("[BACKEND] tests pass")) == "[BACKEND] tests pass"
    assert _text_of(backend_text_item("")) == ""


def test_handoff_append() -> None:
    assert wire(handoff_append("handoff_1", "done")) == {
        "type": "conversation.handoff.append",
        "handoff_id": "handoff_1",
        "output_text": "done",
    }


def test_response_create_and_truncate() -> None:
    assert encode(response_create()) == b'{"type":"response.create"}'
    assert encode(item_truncate("item_1", 1250)) == (
        b'{"type":"conversation.item.truncate","item_id":"item_1","content_index":0,'
        b'"audio_end_ms":1250}'
    )


def test_encode_is_compact_utf8_json() -> None:
    data = encode(user_text_item(Version.V1, "héllo \u2603"))
    assert b" " not in data.replace(b"h\xc3\xa9llo \xe2\x98\x83", b"")
    assert "héllo ☃".encode() in data
    assert msgspec.json.decode(data) == user_text_item(Version.V1, "héllo \u2603")

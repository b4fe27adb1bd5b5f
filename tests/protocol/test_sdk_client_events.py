"""realtalk's v2 client messages validate against the official SDK's client event types."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from realtalk.protocol import (
    ConversationSnapshot,
    HistoryEntry,
    Mode,
    OutputModality,
    SessionConfig,
    Version,
    assistant_text_item,
    backend_text_item,
    function_call_output,
    input_audio_append,
    input_audio_clear,
    input_audio_commit,
    item_truncate,
    output_audio_buffer_clear,
    plan_restore,
    response_cancel,
    response_create,
    session_update,
    user_text_item,
)
from tests.emulator.sdk_schemas import validate_client_event

V2_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("session.update conversational", session_update(SessionConfig(instructions="hi"))),
    (
        "session.update text output",
        session_update(SessionConfig(instructions="hi", output_modality=OutputModality.TEXT)),
    ),
    (
        "session.update transcription",
        session_update(SessionConfig(instructions="", mode=Mode.TRANSCRIPTION)),
    ),
    ("input_audio_buffer.append", input_audio_append("AAAA")),
    ("user text", user_text_item(Version.V2, "hello")),
    ("backend text", backend_text_item("result")),
    ("function_call_output", function_call_output("call_1", "done")),
    ("response.create", response_create()),
    ("truncate", item_truncate("item_1", 120)),
    ("assistant text", assistant_text_item("an earlier answer")),
    ("input_audio_buffer.commit", input_audio_commit()),
    ("input_audio_buffer.clear", input_audio_clear()),
    ("response.cancel", response_cancel("realtalk_cancel_1")),
    ("output_audio_buffer.clear", output_audio_buffer_clear("realtalk_clear_2")),
]

_HISTORY = (
    HistoryEntry("user", "typed", "typed"),
    HistoryEntry("user", "spoken", "spoken"),
    HistoryEntry("assistant", "answer", "answer"),
    HistoryEntry("user", "[BACKEND] update", "agent"),
)
V2_MESSAGES += [
    (f"restored {message['item']['role']} {message['event_id']}", message)
    for message in plan_restore(
        ConversationSnapshot(Version.V2, (), None, busy=False, history=_HISTORY)
    ).messages
]


@pytest.mark.parametrize(("name", "message"), V2_MESSAGES, ids=[n for n, _ in V2_MESSAGES])
def test_v2_client_message_validates_against_sdk(name: str, message: dict[str, Any]) -> None:
    model = validate_client_event(message)
    assert model.type == message["type"]  # type: ignore[attr-defined]


def test_validation_is_strict_enough_to_fail() -> None:
    with pytest.raises(ValidationError):
        validate_client_event({"type": "conversation.item.truncate", "item_id": "x"})

"""Builders of the messages the handoff state sends, shared by its tests."""

from __future__ import annotations

from realtalk.protocol import HandoffRequested, SendMessage, TranscriptEntry

HELLO = (TranscriptEntry("user", "hello"), TranscriptEntry("assistant", "hi there"))


def handoff(
    input_transcript: str = "",
    active_transcript: tuple[TranscriptEntry, ...] = (),
    handoff_id: str = "handoff_1",
) -> HandoffRequested:
    return HandoffRequested(
        handoff_id=handoff_id,
        item_id="item_1",
        input_transcript=input_transcript,
        active_transcript=active_transcript,
    )


def function_call_output(call_id: str, output: str) -> SendMessage:
    return SendMessage(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": output},
        }
    )


def backend_item(text: str) -> SendMessage:
    return SendMessage(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        }
    )


def handoff_append(handoff_id: str, output_text: str) -> SendMessage:
    return SendMessage(
        {
            "type": "conversation.handoff.append",
            "handoff_id": handoff_id,
            "output_text": output_text,
        }
    )

"""Barge-in over WebSocket (reference 9.5): the playing item is truncated at what was
heard (the player's position, else the wall clock clamped to the audio received),
and a refused truncate does not end the conversation.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from realtalk.conversation import Closed
from realtalk.emulator import Emulator

from ._ws_support import Factory, _errors, _is_started
from .conftest import make_settings


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

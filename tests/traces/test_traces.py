"""Trace conformance: recorded event sequences replayed through the conversation core.

Each ``*.jsonl`` file here is one conversation: server events in (recorded from the
emulator, or written from the real API's documented sequences), the person's and the
agent's inputs, and the client messages and events the core must produce. No sockets:
the core is pure, so a replay is a function call per line (see ``_replay``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.traces._replay import TRACES, TraceError, load, replay

ALL = sorted(TRACES.glob("*.jsonl"))


def test_there_are_traces_for_every_scenario() -> None:
    names = {path.stem for path in ALL}
    required = {
        "v2_barge_in_truncates_the_playing_item",
        "v2_response_cancelled_flushes_the_owed_create",
        "v1_text_turn_ends_on_its_own_events",
        "v2_server_error_ends_the_conversation",
        "v2_tool_calls_in_one_response",
        "webrtc_sideband_join_and_server_barge_in",
        "v2_deep_frame_is_survived",
        "emulator_v2_typed_input_during_a_delegation",
        "v2_model_cancels_the_delegation",
        "v2_person_cancels_the_delegation",
        "v2_task_stopped_elsewhere_cancels_the_handoff",
        "v1_person_cancels_the_delegation",
        "v2_session_expired_continues_in_a_new_session",
        "v2_drop_during_a_handoff_delivers_the_result_in_the_new_session",
        "v2_rotation_waits_for_the_turn_boundary",
        "v2_rotation_deadline_renews_mid_answer",
        "v2_refused_restored_item_is_survived",
        "v2_interrupt_key_cancels_and_cuts",
        "webrtc_interrupt_key_clears_the_output_buffer",
        "v2_agent_question_is_answered_yes",
        "v2_agent_question_dies_with_a_cancelled_task",
        "v2_agent_question_times_out",
    }
    assert required <= names
    sources = {load(path)[0]["source"].split(":")[0] for path in ALL}
    assert {"emulator", "docs"} <= sources


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_trace(path: Path) -> None:
    replay(path)


def test_a_trace_that_expects_something_else_fails(tmp_path: Path) -> None:
    # The replay can fail: a wrong expected message, and an unexpected one.
    header = {"trace": {"version": "v2", "source": "docs: test", "about": "negative"}}
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(
        "\n".join(
            json.dumps(line)
            for line in (
                header,
                {"user_text": "hi"},
                {"send": {"type": "conversation.item.create", "item": {}}},
            )
        )
    )
    with pytest.raises(TraceError, match="expected"):
        replay(wrong)
    silent = tmp_path / "silent.jsonl"
    silent.write_text("\n".join(json.dumps(line) for line in (header, {"user_text": "hi"})))
    with pytest.raises(TraceError, match="unexpected client message"):
        replay(silent)

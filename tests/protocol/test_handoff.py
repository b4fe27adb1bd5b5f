"""The handoff state (reference 4.3, 4.4): its table, exhaustively, and how v2 and v1
answer requests, progress, completion and failure. Delegation text is
test_delegation_text.py's, cancelling test_handoff_cancel.py's.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from realtalk.protocol import (
    AGENT_FINAL_MESSAGE_LABEL,
    COMPLETION_ACK,
    HANDOFF_OUTPUT_LIMIT,
    HANDOFF_TRANSITIONS,
    STEERING_ACK,
    HandoffEffect,
    HandoffInput,
    HandoffPhase,
    HandoffState,
    NoopRequested,
    RequestCreate,
    SendMessage,
    Version,
)

from ._handoff_support import backend_item, function_call_output, handoff, handoff_append

# --- the table ---------------------------------------------------------------------------


def test_handoff_table_is_exhaustive() -> None:
    keys = set(itertools.product(HandoffPhase, HandoffInput))
    assert set(HANDOFF_TRANSITIONS) == set(Version)
    for table in HANDOFF_TRANSITIONS.values():
        assert set(table) == keys


E = HandoffEffect
P = HandoffPhase
EXPECTED: dict[tuple[HandoffPhase, HandoffInput], tuple[HandoffPhase, HandoffEffect, HandoffEffect]]
# (phase, input) -> (next phase, v1 effect, v2 effect)
EXPECTED = {
    (P.IDLE, HandoffInput.REQUESTED): (P.ACTIVE, E.ACTIVATE, E.ACTIVATE),
    (P.ACTIVE, HandoffInput.REQUESTED): (P.ACTIVE, E.ACTIVATE, E.STEER_ACK),
    (P.ACTIVE_WITH_OUTPUT, HandoffInput.REQUESTED): (
        P.ACTIVE_WITH_OUTPUT,
        E.ACTIVATE,
        E.STEER_ACK,
    ),
    (P.IDLE, HandoffInput.OUTPUT): (P.IDLE, E.DROP, E.DROP),
    (P.ACTIVE, HandoffInput.OUTPUT): (P.ACTIVE_WITH_OUTPUT, E.EMIT_PROGRESS, E.EMIT_PROGRESS),
    (P.ACTIVE_WITH_OUTPUT, HandoffInput.OUTPUT): (
        P.ACTIVE_WITH_OUTPUT,
        E.EMIT_PROGRESS,
        E.EMIT_PROGRESS,
    ),
    (P.IDLE, HandoffInput.COMPLETE): (P.IDLE, E.CLEAR, E.CLEAR),
    (P.ACTIVE, HandoffInput.COMPLETE): (P.IDLE, E.CLEAR, E.CLEAR),
    (P.ACTIVE_WITH_OUTPUT, HandoffInput.COMPLETE): (P.IDLE, E.CLEAR, E.COMPLETION_ACK),
    (P.IDLE, HandoffInput.CANCEL): (P.IDLE, E.NOT_RUNNING, E.NOT_RUNNING),
    (P.ACTIVE, HandoffInput.CANCEL): (P.IDLE, E.CANCEL, E.CANCEL),
    (P.ACTIVE_WITH_OUTPUT, HandoffInput.CANCEL): (P.IDLE, E.CANCEL, E.CANCEL),
}


@pytest.mark.parametrize(("key", "expected"), list(EXPECTED.items()))
def test_handoff_table_row(
    key: tuple[HandoffPhase, HandoffInput],
    expected: tuple[HandoffPhase, HandoffEffect, HandoffEffect],
) -> None:
    phase, handoff_input = key
    next_phase, v1_effect, v2_effect = expected
    assert HANDOFF_TRANSITIONS[Version.V1].step(phase, handoff_input) == (next_phase, v1_effect)
    assert HANDOFF_TRANSITIONS[Version.V2].step(phase, handoff_input) == (next_phase, v2_effect)


def test_expected_rows_cover_the_table() -> None:
    assert all(len(EXPECTED) == len(table) for table in HANDOFF_TRANSITIONS.values())


# --- v2 behaviour ------------------------------------------------------------------------


def test_v2_first_request_activates_without_sending() -> None:
    state = HandoffState(Version.V2)
    assert state.on_handoff_requested(handoff("do it", handoff_id="call_1")) == []
    assert state.active_handoff_id == "call_1"
    assert state.phase is HandoffPhase.ACTIVE


def test_v2_second_request_is_steering_ack_for_new_call_and_keeps_active_id() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("do it", handoff_id="call_1"))
    actions = state.on_handoff_requested(handoff("also this", handoff_id="call_2"))
    assert actions == [
        function_call_output("call_2", STEERING_ACK),
        RequestCreate("handoff steering"),
    ]
    assert state.active_handoff_id == "call_1"


def test_noop_sends_empty_function_output_without_create() -> None:
    state = HandoffState(Version.V2)
    actions = state.on_noop(NoopRequested(call_id="call_9", item_id="item_9"))
    assert actions == [function_call_output("call_9", "")]
    assert state.phase is HandoffPhase.IDLE


def test_v2_output_is_backend_prefixed_progress_then_completion_ack() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("do it", handoff_id="call_1"))
    assert state.agent_message("working on it") == [backend_item("[BACKEND] working on it")]
    assert state.last_output_text == "[BACKEND] working on it"
    assert state.agent_message("done: 3 files") == [backend_item("[BACKEND] done: 3 files")]
    assert state.agent_complete() == [
        function_call_output("call_1", COMPLETION_ACK),
        RequestCreate("handoff"),
    ]
    assert state.active_handoff_id is None
    assert state.last_output_text is None
    assert state.phase is HandoffPhase.IDLE


def test_v2_prefix_not_doubled() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("x"))
    assert state.agent_message("[BACKEND] already") == [backend_item("[BACKEND] already")]


def test_v2_complete_without_output_sends_nothing() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("do it", handoff_id="call_1"))
    assert state.agent_complete() == []
    assert state.active_handoff_id is None


def test_output_without_active_handoff_is_dropped() -> None:
    for version in Version:
        state = HandoffState(version)
        assert state.agent_message("nobody asked") == []
        assert state.agent_complete() == []


def test_empty_output_is_dropped_and_does_not_count_as_output() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("x"))
    assert state.agent_message("  \n") == []
    assert state.phase is HandoffPhase.ACTIVE
    assert state.agent_complete() == []


def test_v2_output_after_completion_is_dropped() -> None:
    # Agent events are applied in agent order: a message after its task's completion
    # finds no handoff, and a message of the next handoff goes to that handoff.
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("first", handoff_id="call_1"))
    state.agent_complete()
    assert state.agent_message("late result of the first task") == []
    state.on_handoff_requested(handoff("second", handoff_id="call_2"))
    assert state.agent_message("second result") == [backend_item("[BACKEND] second result")]
    assert state.agent_complete()[0] == function_call_output("call_2", COMPLETION_ACK)


def test_v2_progress_truncated_with_visible_marker() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("x", handoff_id="call_1"))
    actions = state.agent_message("HEAD" + "z" * 10_000)
    assert len(actions) == 1
    action = actions[0]
    assert isinstance(action, SendMessage)
    text = action.message["item"]["content"][0]["text"]
    assert text.startswith("[BACKEND] HEAD")
    assert "tokens truncated" in text
    assert len(text) <= HANDOFF_OUTPUT_LIMIT


def test_v2_failure_is_spoken_then_completed() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("x", handoff_id="call_1"))
    assert state.agent_failed("exit status 2") == [
        backend_item("[BACKEND] The background agent failed: exit status 2"),
        function_call_output("call_1", COMPLETION_ACK),
        RequestCreate("handoff"),
    ]
    assert state.active_handoff_id is None


def test_failure_without_active_handoff_sends_nothing() -> None:
    state = HandoffState(Version.V2)
    assert state.agent_failed("boom") == []


def test_each_message_is_sent_exactly_once() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("x", handoff_id="call_1"))
    sent: list[Any] = []
    for text in ["one", "two", "three"]:
        sent.extend(state.agent_message(text))
    sent.extend(state.agent_complete())
    texts = [
        a.message["item"]["content"][0]["text"]
        for a in sent
        if isinstance(a, SendMessage) and a.message["item"]["type"] == "message"
    ]
    assert texts == ["[BACKEND] one", "[BACKEND] two", "[BACKEND] three"]
    acks = [
        a for a in sent if isinstance(a, SendMessage) and a.message["item"]["type"] != "message"
    ]
    assert acks == [function_call_output("call_1", COMPLETION_ACK)]


# --- v1 behaviour ------------------------------------------------------------------------


def test_v1_request_overwrites_active_id() -> None:
    state = HandoffState(Version.V1)
    assert state.on_handoff_requested(handoff("a", handoff_id="h1")) == []
    assert state.on_handoff_requested(handoff("b", handoff_id="h2")) == []
    assert state.active_handoff_id == "h2"


def test_v1_progress_is_labelled_handoff_append_and_complete_sends_nothing() -> None:
    state = HandoffState(Version.V1)
    state.on_handoff_requested(handoff("a", handoff_id="h1"))
    assert state.agent_message("result text") == [
        handoff_append("h1", '"Agent Final Message":\n\nresult text')
    ]
    assert state.agent_message("more") == [handoff_append("h1", '"Agent Final Message":\n\nmore')]
    assert state.agent_complete() == []
    assert state.active_handoff_id is None


def test_v1_output_goes_to_the_latest_handoff() -> None:
    # v1 has no steering: a second request replaces the id the output is appended to.
    state = HandoffState(Version.V1)
    state.on_handoff_requested(handoff("a", handoff_id="h1"))
    state.on_handoff_requested(handoff("b", handoff_id="h2"))
    assert state.agent_message("new") == [handoff_append("h2", AGENT_FINAL_MESSAGE_LABEL + "new")]


def test_v1_labelled_output_stays_within_limit() -> None:
    state = HandoffState(Version.V1)
    state.on_handoff_requested(handoff("a", handoff_id="h1"))
    (action,) = state.agent_message("q" * 9_000)
    assert isinstance(action, SendMessage)
    output_text = action.message["output_text"]
    assert output_text.startswith(AGENT_FINAL_MESSAGE_LABEL + "qqq")
    assert "tokens truncated" in output_text
    assert len(output_text) <= HANDOFF_OUTPUT_LIMIT


def test_v1_failure_is_spoken() -> None:
    state = HandoffState(Version.V1)
    state.on_handoff_requested(handoff("a", handoff_id="h1"))
    assert state.agent_failed("timed out") == [
        handoff_append("h1", AGENT_FINAL_MESSAGE_LABEL + "The background agent failed: timed out")
    ]

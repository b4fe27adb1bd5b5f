"""Cancelling a handoff (realtalk's extension of the handoff state, 4.3, 4.4): the
answers each version gets, a task stopped from elsewhere, and tasks of an earlier
session.
"""

from __future__ import annotations

import pytest

from realtalk.protocol import (
    CANCEL_ACK,
    CANCELLED_OUTPUT,
    CANCELLED_SPEECH,
    COMPLETION_ACK,
    HandoffPhase,
    HandoffState,
    RequestCreate,
    SendMessage,
    Version,
)

from ._handoff_support import backend_item, function_call_output, handoff

# --- cancelling (realtalk's extension) ---------------------------------------------------


def test_v2_cancel_answers_the_handoff_and_asks_for_a_response() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("run the tests", handoff_id="call_1"))
    state.agent_message("running the tests")
    cancelled, actions = state.cancel()
    assert cancelled
    assert actions == [
        function_call_output("call_1", CANCELLED_OUTPUT),
        RequestCreate("handoff cancelled"),
    ]
    assert state.phase is HandoffPhase.IDLE and state.active_handoff_id is None
    assert state.stale_ends == 1


def test_the_models_cancel_call_is_answered_after_the_handoff() -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("run the tests", handoff_id="call_1"))
    cancelled, actions = state.cancel("call_cancel")
    assert cancelled
    assert actions == [
        function_call_output("call_1", CANCELLED_OUTPUT),
        function_call_output("call_cancel", CANCEL_ACK),
        RequestCreate("handoff cancelled"),
    ]


def test_cancel_with_nothing_running() -> None:
    state = HandoffState(Version.V2)
    assert state.cancel() == (False, [])  # a key: nothing to send
    cancelled, actions = state.cancel("call_cancel")  # the model's call is still answered
    assert not cancelled
    assert actions == [
        function_call_output(
            "call_cancel", "No background agent task was running; nothing was cancelled."
        ),
        RequestCreate("handoff cancelled"),
    ]
    assert state.stale_ends == 0


def test_v1_cancel_is_a_spoken_append() -> None:
    state = HandoffState(Version.V1)
    state.on_handoff_requested(handoff("run the tests", handoff_id="handoff_7"))
    cancelled, actions = state.cancel("ignored_on_v1")
    assert cancelled
    assert actions == [
        SendMessage(
            {
                "type": "conversation.handoff.append",
                "handoff_id": "handoff_7",
                "output_text": CANCELLED_SPEECH,
            }
        )
    ]


@pytest.mark.parametrize("end", ["complete", "failed", "stopped"])
def test_the_cancelled_tasks_events_are_dropped_until_its_end(end: str) -> None:
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("run the tests", handoff_id="call_1"))
    state.cancel()
    # A new delegation before the cancelled task's end arrived.
    assert state.on_handoff_requested(handoff("lint it", handoff_id="call_2")) == []
    assert state.agent_message("still running the tests") == []  # the old task's
    ending = {
        "complete": state.agent_complete,
        "failed": lambda: state.agent_failed("boom"),
        "stopped": state.agent_stopped,
    }[end]
    assert ending() == []  # the old task's end: dropped, the new handoff untouched
    assert state.stale_ends == 0 and state.active_handoff_id == "call_2"
    assert state.agent_message("lint is clean") == [backend_item("[BACKEND] lint is clean")]
    assert state.agent_complete() == [
        function_call_output("call_2", COMPLETION_ACK),
        RequestCreate("handoff"),
    ]


def test_a_task_stopped_from_elsewhere_cancels_its_handoff() -> None:
    # e.g. an app-server client's turn/interrupt: the agent ends the task as
    # interrupted without a cancel from the conversation.
    state = HandoffState(Version.V2)
    state.on_handoff_requested(handoff("run the tests", handoff_id="call_1"))
    assert state.agent_stopped() == [
        function_call_output("call_1", CANCELLED_OUTPUT),
        RequestCreate("handoff cancelled"),
    ]
    assert state.stale_ends == 0
    assert state.agent_stopped() == []  # nothing left to stop


def test_cancelling_a_task_of_an_earlier_session_is_a_backend_note() -> None:
    # After a reconnect the task's call does not exist in the new session.
    state = HandoffState(Version.V2)
    state.adopt(HandoffPhase.ACTIVE_WITH_OUTPUT, stale_ends=0)
    cancelled, actions = state.cancel()
    assert cancelled
    assert actions == [
        backend_item(f"[BACKEND] {CANCELLED_OUTPUT}"),
        RequestCreate("handoff cancelled"),
    ]
    assert not state.adopted and not state.active and state.stale_ends == 1
    assert state.agent_stopped() == []  # its interrupted end, dropped


def test_stale_ends_carry_over_to_a_new_session() -> None:
    state = HandoffState(Version.V2)
    state.adopt(HandoffPhase.IDLE, stale_ends=1)
    assert state.agent_message("a late line of the cancelled task") == []
    assert state.agent_complete() == []
    assert state.stale_ends == 0

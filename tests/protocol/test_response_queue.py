"""The v2 response.create queue (reference 4.5), with response-id correlation."""

from __future__ import annotations

import itertools
import logging

import pytest

from realtalk.protocol import (
    ACTIVE_RESPONSE_ERROR_CODE,
    ACTIVE_RESPONSE_RACE_PREFIX,
    RESPONSE_QUEUE_TRANSITIONS,
    QueueInput,
    QueueOutput,
    QueueState,
    ResponseCreateQueue,
    is_message_active_response_race,
)

S, IN = QueueState, QueueInput
SEND = (QueueOutput.SEND_CREATE,)

# Written out by hand (not derived from the module) so a change to the table fails here.
EXPECTED: dict[tuple[QueueState, QueueInput], tuple[QueueState, tuple[QueueOutput, ...]]] = {
    (S.IDLE, IN.REQUEST_CREATE): (S.ACTIVE, SEND),
    (S.ACTIVE, IN.REQUEST_CREATE): (S.ACTIVE_PENDING, ()),
    (S.ACTIVE_PENDING, IN.REQUEST_CREATE): (S.ACTIVE_PENDING, ()),
    (S.IDLE, IN.SEND_OK): (S.IDLE, ()),
    (S.ACTIVE, IN.SEND_OK): (S.ACTIVE, ()),
    (S.ACTIVE_PENDING, IN.SEND_OK): (S.ACTIVE_PENDING, ()),
    (S.IDLE, IN.SEND_RACED): (S.ACTIVE_PENDING, ()),
    (S.ACTIVE, IN.SEND_RACED): (S.ACTIVE_PENDING, ()),
    (S.ACTIVE_PENDING, IN.SEND_RACED): (S.ACTIVE_PENDING, ()),
    (S.IDLE, IN.SERVER_CREATED): (S.ACTIVE, ()),
    (S.ACTIVE, IN.SERVER_CREATED): (S.ACTIVE, ()),
    (S.ACTIVE_PENDING, IN.SERVER_CREATED): (S.ACTIVE_PENDING, ()),
    (S.IDLE, IN.SERVER_DONE): (S.IDLE, ()),
    (S.ACTIVE, IN.SERVER_DONE): (S.IDLE, ()),
    (S.ACTIVE_PENDING, IN.SERVER_DONE): (S.ACTIVE, SEND),
    (S.IDLE, IN.SERVER_CANCELLED): (S.IDLE, ()),
    (S.ACTIVE, IN.SERVER_CANCELLED): (S.IDLE, ()),
    (S.ACTIVE_PENDING, IN.SERVER_CANCELLED): (S.ACTIVE, SEND),
    (S.IDLE, IN.SERVER_ACTIVE_RESPONSE_ERROR): (S.ACTIVE_PENDING, ()),
    (S.ACTIVE, IN.SERVER_ACTIVE_RESPONSE_ERROR): (S.ACTIVE_PENDING, ()),
    (S.ACTIVE_PENDING, IN.SERVER_ACTIVE_RESPONSE_ERROR): (S.ACTIVE_PENDING, ()),
}


def test_table_defines_every_pair() -> None:
    assert set(RESPONSE_QUEUE_TRANSITIONS) == set(itertools.product(QueueState, QueueInput))
    assert set(EXPECTED) == set(RESPONSE_QUEUE_TRANSITIONS)


@pytest.mark.parametrize(("key", "expected"), list(EXPECTED.items()), ids=str)
def test_table_row(
    key: tuple[QueueState, QueueInput],
    expected: tuple[QueueState, tuple[QueueOutput, ...]],
) -> None:
    assert RESPONSE_QUEUE_TRANSITIONS[key] == expected


def test_only_request_or_finish_sends() -> None:
    # A rejection never triggers a send by itself (no loop against a misbehaving server).
    senders = {key for key, (_, outputs) in RESPONSE_QUEUE_TRANSITIONS.items() if outputs}
    assert senders == {
        (S.IDLE, IN.REQUEST_CREATE),
        (S.ACTIVE_PENDING, IN.SERVER_DONE),
        (S.ACTIVE_PENDING, IN.SERVER_CANCELLED),
    }


def test_wire_constants() -> None:
    assert ACTIVE_RESPONSE_RACE_PREFIX == "Conversation already has an active response in progress:"
    assert ACTIVE_RESPONSE_ERROR_CODE == "conversation_already_has_active_response"


def test_is_message_active_response_race() -> None:
    assert is_message_active_response_race(
        "Conversation already has an active response in progress: resp_1"
    )
    assert not is_message_active_response_race("socket closed")
    assert not is_message_active_response_race(
        "error: Conversation already has an active response in progress:"
    )


# --- scenarios ---------------------------------------------------------------------------


def test_idle_request_sends_now() -> None:
    queue = ResponseCreateQueue()
    assert queue.request_create("handoff") is True
    assert queue.on_send_result() is True
    assert queue.state is QueueState.ACTIVE
    assert queue.active_response_id is None


def test_defer_while_active_and_flush_exactly_once() -> None:
    queue = ResponseCreateQueue()
    queue.on_response_created("resp_1")
    assert queue.request_create("handoff steering") is False
    assert queue.request_create("handoff") is False  # coalesced: one create owed
    assert queue.pending
    assert queue.on_response_finished("resp_1", "done") is True
    assert queue.on_send_result() is True
    assert not queue.pending
    assert queue.state is QueueState.ACTIVE
    queue.on_response_created("resp_2")
    assert queue.active_response_id == "resp_2"
    assert queue.on_response_finished("resp_2", "done") is False
    assert queue.state is QueueState.IDLE


def test_done_after_cancelled_of_same_response_does_not_flush_twice() -> None:
    queue = ResponseCreateQueue()
    queue.on_response_created("resp_1")
    queue.request_create("handoff")
    assert queue.on_response_finished("resp_1", "cancelled") is True
    queue.on_send_result()
    assert queue.request_create("handoff steering") is False  # our create is in flight
    # The same response now reports done too: must not flush the second owed create.
    assert queue.on_response_finished("resp_1", "done") is False
    assert queue.pending
    queue.on_response_created("resp_2")
    assert queue.on_response_finished("resp_2", "done") is True


def test_finish_of_non_active_response_is_ignored() -> None:
    queue = ResponseCreateQueue()
    queue.on_response_created("resp_1")
    queue.request_create("handoff")
    assert queue.on_response_finished("resp_other", "done") is False
    assert queue.pending
    assert queue.active_response_id == "resp_1"
    assert queue.on_response_finished("resp_1", "done") is True


def test_finish_without_ids_trusts_the_event() -> None:
    queue = ResponseCreateQueue()
    queue.on_response_created(None)
    queue.request_create("handoff")
    assert queue.on_response_finished(None, "done") is True


def test_finish_while_idle_sends_nothing() -> None:
    queue = ResponseCreateQueue()
    assert queue.on_response_finished("resp_1", "done") is False
    assert queue.on_response_finished(None, "cancelled") is False
    assert queue.state is QueueState.IDLE


def test_send_race_is_treated_as_deferral(caplog: pytest.LogCaptureFixture) -> None:
    queue = ResponseCreateQueue()
    assert queue.request_create("handoff") is True
    with caplog.at_level(logging.WARNING):
        handled = queue.on_send_result(ACTIVE_RESPONSE_RACE_PREFIX + " resp_9")
    assert handled is True
    assert "raced an active response; deferring" in caplog.text
    assert queue.pending
    queue.on_response_created("resp_9")
    assert queue.on_response_finished("resp_9", "done") is True


def test_other_send_failure_is_reported_to_caller() -> None:
    queue = ResponseCreateQueue()
    queue.request_create("handoff")
    assert queue.on_send_result("realtime websocket connection is closed") is False


def test_inbound_active_response_error_rearms_pending(caplog: pytest.LogCaptureFixture) -> None:
    queue = ResponseCreateQueue()
    assert queue.request_create("handoff") is True  # sent, but a VAD response got there first
    queue.on_send_result()
    queue.on_response_created("resp_vad")
    with caplog.at_level(logging.WARNING):
        queue.on_active_response_error()
    assert caplog.records
    assert queue.pending
    assert queue.on_response_finished("resp_vad", "done") is True
    queue.on_send_result()
    assert not queue.pending


def test_active_response_error_while_idle_waits_for_a_finish() -> None:
    queue = ResponseCreateQueue()
    queue.on_active_response_error()
    assert queue.state is QueueState.ACTIVE_PENDING
    queue.on_response_created("resp_1")
    assert queue.on_response_finished("resp_1", "cancelled") is True


def test_user_text_never_touches_the_queue() -> None:
    # User text is append-only (reference 4.5): callers never call request_create for
    # it, so while the model is idle nothing is owed and no create is sent on finish.
    queue = ResponseCreateQueue()
    queue.on_response_created("resp_1")
    assert queue.on_response_finished("resp_1", "done") is False
    assert queue.state is QueueState.IDLE
    assert not queue.pending


def test_many_rounds_flush_once_per_request() -> None:
    queue = ResponseCreateQueue()
    sends = 0
    for n in range(50):
        queue.on_response_created(f"r{n}")
        sends += queue.request_create("handoff")
        if queue.on_response_finished(f"r{n}", "cancelled"):
            sends += 1
            queue.on_send_result()
        sends += queue.on_response_finished(f"r{n}", "done")  # duplicate: ignored
        queue.on_response_created(f"ours{n}")
        sends += queue.on_response_finished(f"ours{n}", "done")
    assert sends == 50
    assert queue.state is QueueState.IDLE

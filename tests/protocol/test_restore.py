"""Continuing a conversation on a new session: the history, the plan, adopted tasks.

The decisions on real event sequences are in ``tests/traces/`` (session_expired mid-answer,
a drop during a handoff, rotation at a turn boundary and at its deadline, a refused
restored item); these are the rules of each piece.
"""

from __future__ import annotations

from typing import Any

import pytest

from realtalk.protocol import (
    BACKEND_PREFIX,
    DIGEST_LINE_CHARS,
    HISTORY_LIMIT,
    RESTORE_ITEM_CHARS,
    RESTORE_MAX_ITEMS,
    SESSION_EXPIRED_CODE,
    TASK_PENDING_NOTE,
    ConversationCore,
    ConversationItemAdded,
    ConversationItemDone,
    ConversationSnapshot,
    ErrorEvent,
    HandoffPhase,
    HandoffRequested,
    HandoffState,
    HistoryEntry,
    InputAudioSpeechStarted,
    InputTranscriptDone,
    Mode,
    OutputTranscriptDone,
    RequestCreate,
    ResponseCreated,
    ResponseDone,
    SendMessage,
    TurnDone,
    Version,
    plan_restore,
    restored_instructions,
)
from realtalk.protocol._history import History


def _drain(core: ConversationCore) -> tuple[list[dict[str, Any]], list[object]]:
    sent: list[dict[str, Any]] = []
    while (message := core.next_message()) is not None:
        sent.append(message)
    shown: list[object] = []
    while (output := core.next_output()) is not None:
        shown.append(output)
    return sent, shown


def _snapshot(*entries: HistoryEntry, **kw: Any) -> ConversationSnapshot:
    return ConversationSnapshot(Version.V2, (), None, busy=False, history=entries, **kw)


def _text(message: dict[str, Any]) -> str:
    return str(message["item"]["content"][0]["text"])


# -- the history --------------------------------------------------------------------


def test_the_history_keeps_typed_spoken_answers_and_agent_updates_in_order() -> None:
    core = ConversationCore(Version.V2)
    core.user_text("typed line")
    core.receive_event(InputAudioSpeechStarted("item_u2"), 1.0)
    core.receive_event(ResponseCreated("resp_1"), 1.1)
    core.receive_event(OutputTranscriptDone("the answer"), 1.2)
    # The server finished the spoken turn's transcript after the answer: it goes first.
    core.receive_event(InputTranscriptDone("spoken line"), 1.3)
    core.receive_event(HandoffRequested("call_1", "item_c", "do it"), 1.4)
    core.agent_message("working on it")
    core.agent_message("   ")  # nothing to say: not kept
    assert core.snapshot().history == (
        HistoryEntry("user", "typed line", "typed"),
        HistoryEntry("user", "spoken line", "spoken"),
        HistoryEntry("assistant", "the answer", "answer"),
        HistoryEntry("user", BACKEND_PREFIX + "working on it", "agent"),
    )


def test_the_history_is_bounded_and_counts_what_it_dropped() -> None:
    history = History()
    for n in range(HISTORY_LIMIT + 5):
        history.typed(f"line {n}")
    assert len(history.entries) == HISTORY_LIMIT
    assert history.dropped == 5
    assert history.entries[0].text == "line 5"


# -- the plan -----------------------------------------------------------------------


def test_the_plan_replays_every_kind_of_message_as_its_item() -> None:
    plan = plan_restore(
        _snapshot(
            HistoryEntry("user", "typed", "typed"),
            HistoryEntry("user", "spoken", "spoken"),
            HistoryEntry("assistant", "answer", "answer"),
            HistoryEntry("user", "[BACKEND] update", "agent"),
        )
    )
    items = [m["item"] for m in plan.messages]
    assert [(i["role"], i["content"][0]["type"], i["content"][0]["text"]) for i in items] == [
        ("user", "input_text", "[USER] typed"),
        ("user", "input_text", "[USER] spoken"),
        ("assistant", "output_text", "answer"),
        ("user", "input_text", "[BACKEND] update"),
    ]
    assert [m["event_id"] for m in plan.messages] == [f"realtalk_restore_{n}" for n in (1, 2, 3, 4)]
    assert (plan.replayed, plan.folded, plan.left_out, plan.digest) == (4, 0, 0, "")
    assert not plan.respond and not plan.task_pending


def test_v1_replays_user_text_without_the_prefix() -> None:
    snapshot = ConversationSnapshot(
        Version.V1, (), None, busy=False, history=(HistoryEntry("user", "hi", "typed"),)
    )
    assert _text(plan_restore(snapshot).messages[0]) == "hi"


def test_beyond_the_budget_older_messages_are_folded_into_a_digest() -> None:
    entries = tuple(
        HistoryEntry("user", f"message {n:03d} " + "x" * 88, "typed") for n in range(200)
    )
    plan = plan_restore(_snapshot(*entries, history_dropped=7), budget_chars=1_000)
    # Newest first while they fit: ten 100-character messages.
    assert plan.replayed == 10
    assert _text(plan.messages[-1]).startswith("[USER] message 199")
    assert _text(plan.messages[0]).startswith("[USER] message 190")
    # The next older ones are folded, one shortened line each, oldest first.
    lines = plan.digest.splitlines()
    assert lines[-1].startswith("- user: message 189")
    assert plan.folded == len(lines) - 2  # a head line and the "left out" line
    assert plan.folded + plan.left_out == 190 + 7  # ...and the dropped ones are counted
    assert f"({plan.left_out} older messages are left out.)" in plan.digest
    assert len(plan.digest) < 4_500


def test_the_item_count_is_bounded_and_a_long_message_is_cut() -> None:
    many = tuple(HistoryEntry("assistant", "ok", "answer") for _ in range(RESTORE_MAX_ITEMS + 3))
    assert plan_restore(_snapshot(*many)).replayed == RESTORE_MAX_ITEMS
    long = plan_restore(_snapshot(HistoryEntry("user", "y" * 50_000, "typed")))
    assert long.replayed == 1
    assert len(_text(long.messages[0])) <= RESTORE_ITEM_CHARS + len("[USER] ")
    assert "tokens truncated" in _text(long.messages[0])
    line = plan_restore(
        _snapshot(HistoryEntry("user", "z" * 5_000, "typed"), *many[:1]), max_items=1
    ).digest.splitlines()[-1]
    assert len(line) == len("- user: ") + DIGEST_LINE_CHARS


def test_an_owed_answer_and_a_running_task_are_carried_over() -> None:
    plan = plan_restore(_snapshot(answer_owed=True, handoff_phase=HandoffPhase.ACTIVE))
    assert plan.respond and plan.task_pending
    assert restored_instructions("Be brief.", plan) == f"Be brief.\n\n{TASK_PENDING_NOTE}"


def test_a_transcription_session_replays_nothing() -> None:
    plan = plan_restore(_snapshot(HistoryEntry("user", "heard", "spoken"), mode=Mode.TRANSCRIPTION))
    assert (plan.messages, plan.digest, plan.respond) == ((), "", False)


# -- a task carried over ------------------------------------------------------------


@pytest.mark.parametrize("version", list(Version))
def test_an_adopted_task_sends_updates_as_backend_items_and_asks_for_a_response(
    version: Version,
) -> None:
    state = HandoffState(version)
    state.adopt(HandoffPhase.ACTIVE)
    assert state.active and state.adopted and state.active_handoff_id is None
    [update] = state.agent_message("3 files")
    assert isinstance(update, SendMessage)
    assert _text(update.message) == "[BACKEND] 3 files"
    assert state.agent_complete() == [RequestCreate("adopted handoff")]
    assert not state.active and not state.adopted


def test_an_adopted_task_that_said_nothing_asks_for_nothing() -> None:
    state = HandoffState(Version.V2)
    state.adopt(HandoffPhase.ACTIVE)
    assert state.agent_complete() == []
    state.adopt(HandoffPhase.IDLE)
    assert not state.adopted
    assert state.agent_message("late") == []  # no task: dropped


def test_a_new_call_steers_an_adopted_v2_task_and_replaces_a_v1_one() -> None:
    v2 = HandoffState(Version.V2)
    v2.adopt(HandoffPhase.ACTIVE_WITH_OUTPUT)
    actions = v2.on_handoff_requested(HandoffRequested("call_9", "item_9", "also lint"))
    assert [type(a) for a in actions] == [SendMessage, RequestCreate]  # steering ack
    assert v2.adopted
    v1 = HandoffState(Version.V1)
    v1.adopt(HandoffPhase.ACTIVE)
    assert v1.on_handoff_requested(HandoffRequested("h_9", "item_9", "lint")) == []
    assert not v1.adopted and v1.active_handoff_id == "h_9"


# -- the core -----------------------------------------------------------------------


def test_without_resume_session_expired_is_an_error_that_ends_the_conversation() -> None:
    core = ConversationCore(Version.V2)
    core.receive_event(
        ErrorEvent("Your session hit the maximum duration.", SESSION_EXPIRED_CODE), 0
    )
    assert core.end_reason == "error" and core.lost is None
    assert _drain(core)[1] == [
        ErrorEvent("Your session hit the maximum duration.", "session_expired")
    ]


def test_a_resumable_core_survives_nothing_else() -> None:
    # A protocol violation or another server error is not a lost session.
    core = ConversationCore(Version.V2, resumable=True)
    core.receive_event(ErrorEvent("bad key", "invalid_api_key"), 0)
    assert core.end_reason == "error" and core.lost is None
    binary = ConversationCore(Version.V2, resumable=True)
    binary.receive_binary(b"\x00", 0)
    assert binary.end_reason == "error" and binary.lost is None


def test_a_restored_turn_that_owes_nothing_ends_in_the_new_session() -> None:
    old = ConversationCore(Version.V2, resumable=True)
    old.user_text("agent, go")
    old.receive_event(HandoffRequested("call_1", "item_c", "go"), 0)
    assert old.busy  # the delegated task keeps the turn open
    old.stream_ended("1006")
    new = ConversationCore(Version.V2, resumable=True)
    new.restore(old.snapshot())
    sent, shown = _drain(new)
    assert [_text(m) for m in sent] == ["[USER] agent, go"]
    assert shown == []  # still busy: the task runs in the new session
    new.agent_complete()  # said nothing: nothing to ask for
    assert _drain(new) == ([], [TurnDone()])


def test_acks_of_restored_items_are_hidden_in_order_and_others_are_shown() -> None:
    old = ConversationCore(Version.V2, resumable=True)
    old.user_text("one")
    old.stream_ended()
    new = ConversationCore(Version.V2, resumable=True)
    new.restore(old.snapshot())
    _drain(new)
    other = {"id": "i_0", "type": "message", "role": "user", "content": [{"text": "other"}]}
    restored = {**other, "id": "i_1", "content": [{"type": "input_text", "text": "[USER] one"}]}
    for event in (
        ConversationItemAdded(other),
        ConversationItemAdded(restored),
        ConversationItemDone("i_1"),
        ConversationItemDone("i_0"),
        ConversationItemAdded(restored),  # a second one with the same text: not a restore ack
    ):
        new.receive_event(event, 0)
    assert _drain(new)[1] == [
        ConversationItemAdded(other),
        ConversationItemDone("i_0"),
        ConversationItemAdded(restored),
    ]


def test_rotation_never_fires_without_a_schedule_and_the_deadline_is_never_before_due() -> None:
    core = ConversationCore(Version.V2, resumable=True)
    core.tick(1e9)
    assert core.end_reason is None
    core.schedule_rotation(10, 5)  # a deadline before due means "at due"
    core.request_response()
    core.tick(10)
    assert core.lost is not None and core.lost.detail.endswith("(mid-turn)")


def test_a_response_done_after_rotation_is_due_renews_at_the_boundary() -> None:
    core = ConversationCore(Version.V2, resumable=True)
    core.schedule_rotation(10, 100)
    core.request_response()
    core.receive_event(ResponseCreated("resp_1"), 1)
    core.tick(10)
    assert core.end_reason is None
    core.receive_event(ResponseDone("resp_1", "completed"), 11)
    assert core.lost is not None and core.lost.cause == "rotation"
    assert core.lost.detail.endswith("(turn boundary)")

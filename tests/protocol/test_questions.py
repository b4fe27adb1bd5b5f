"""The agent's approval questions in the conversation core: the table and every edge.

The happy path and the cancel/timeout paths are replayed traces
(``tests/traces/v2_agent_question_*``); here: the table itself, the call's arguments,
late, unclear and foreign answers, a task that ends while a question waits, a new
session while one waits, and v1 (no tools: a spoken question, a yes/no handoff).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from realtalk.protocol import (
    ANSWER_APPROVAL_TOOL,
    AnswerApprovalRequested,
    ApprovalAnswer,
    ConversationCore,
    Delegate,
    HandoffRequested,
    PendingQuestion,
    ResponseCreated,
    ResponseDone,
    ServerEventParser,
    Version,
    yes_or_no,
)
from realtalk.protocol._questions import (
    APPROVED_OUTPUT,
    DECLINED_OUTPUT,
    NOT_PENDING_OUTPUT,
    QUESTION_TRANSITIONS,
    UNCLEAR_OUTPUT,
    QuestionEffect,
    QuestionInput,
    QuestionPhase,
    question_text,
)

QUESTION = "May I run `pip install requests`? It needs the network."
NONE, WAITING = QuestionPhase.NONE, QuestionPhase.WAITING
In, E = QuestionInput, QuestionEffect

EXPECTED = {
    (NONE, In.ASKED): (WAITING, E.SPEAK),
    (WAITING, In.ASKED): (WAITING, E.SPEAK),
    (NONE, In.ANSWERED): (NONE, E.NOT_PENDING),
    (WAITING, In.ANSWERED): (NONE, E.FORWARD),
    (NONE, In.ANSWERED_OTHER): (NONE, E.NOT_PENDING),
    (WAITING, In.ANSWERED_OTHER): (WAITING, E.NOT_PENDING),
    (NONE, In.UNCLEAR): (NONE, E.UNCLEAR),
    (WAITING, In.UNCLEAR): (WAITING, E.UNCLEAR),
    (NONE, In.RESOLVED): (NONE, E.IGNORE),
    (WAITING, In.RESOLVED): (NONE, E.CLOSED),
    (NONE, In.ENDED): (NONE, E.IGNORE),
    (WAITING, In.ENDED): (NONE, E.FORGET),
}


@pytest.mark.parametrize(
    ("phase", "question_input"), list(itertools.product(QuestionPhase, QuestionInput))
)
def test_every_pair_of_the_table_is_defined_as_documented(
    phase: QuestionPhase, question_input: QuestionInput
) -> None:
    assert QUESTION_TRANSITIONS.step(phase, question_input) == EXPECTED[(phase, question_input)]


def _call(arguments: str, name: str = "answer_approval") -> dict[str, Any]:
    item = {
        "id": "item_c9",
        "type": "function_call",
        "name": name,
        "call_id": "call_9",
        "status": "completed",
        "arguments": arguments,
    }
    return {"type": "conversation.item.done", "event_id": "event_1", "item": item}


@pytest.mark.parametrize(
    ("arguments", "approved", "request_id"),
    [
        ('{"approved": true, "request_id": "appr_1"}', True, "appr_1"),
        ('{"approved": false}', False, None),
        ('{"approved": "yes"}', None, None),  # not a boolean: unclear
        ('{"approved": 1}', None, None),
        ('{"request_id": "  "}', None, None),
        ("not json", None, None),
        ("", None, None),
        ("[" * 200 + "]" * 200, None, None),  # nested too deep: not decoded
    ],
)
def test_the_answer_call_is_read_leniently(
    arguments: str, approved: object, request_id: str | None
) -> None:
    import json

    event = ServerEventParser(Version.V2).parse(json.dumps(_call(arguments)))
    assert isinstance(event, AnswerApprovalRequested)
    assert (event.call_id, event.item_id) == ("call_9", "item_c9")
    assert (event.approved, event.request_id) == (approved, request_id)


def test_the_tool_is_declared_with_a_boolean_and_an_optional_request_id() -> None:
    params = ANSWER_APPROVAL_TOOL["parameters"]
    assert params["required"] == ["approved"]
    assert params["properties"]["approved"]["type"] == "boolean"
    assert params["properties"]["request_id"]["type"] == "string"


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("yes", True),
        ("Yes please.", True),
        ("go ahead", True),
        ("sure", True),
        ("agent, yes", True),
        ("no", False),
        ("No, don't.", False),
        ("don't", False),
        ("do not do that", False),
        ("nothing yet", None),
        ("what is the weather", None),
        ("", None),
    ],
)
def test_yes_or_no(text: str, verdict: object) -> None:
    assert yes_or_no(text) is verdict


# --- the core ---------------------------------------------------------------------------


def _drain(core: ConversationCore) -> tuple[list[dict[str, Any]], list[object]]:
    sent: list[dict[str, Any]] = []
    while (message := core.next_message()) is not None:
        sent.append(message)
    shown: list[object] = []
    while (output := core.next_output()) is not None:
        shown.append(output)
    return sent, shown


def _outputs_of(sent: list[dict[str, Any]]) -> list[str]:
    return [
        m["item"]["output"] for m in sent if m.get("item", {}).get("type") == "function_call_output"
    ]


def _delegating(version: Version = Version.V2, **kwargs: Any) -> ConversationCore:
    core = ConversationCore(version, **kwargs)
    core.receive_event(HandoffRequested("call_1", "item_c1", "agent, install requests"), 0.0)
    _drain(core)
    return core


def _asked(version: Version = Version.V2, **kwargs: Any) -> ConversationCore:
    core = _delegating(version, **kwargs)
    core.agent_question("appr_1", QUESTION)
    if version is Version.V2:  # the question is said: its response is over
        core.receive_event(ResponseCreated("resp_q"), 0.1)
        core.receive_event(ResponseDone("resp_q", "completed"), 0.2)
    _drain(core)
    return core


def _answer(
    core: ConversationCore, *, approved: bool | None, request_id: str | None = None
) -> tuple[list[dict[str, Any]], list[object]]:
    event = AnswerApprovalRequested("call_9", "item_c9", approved, request_id)
    core.receive_event(event, 1.0)
    return _drain(core)


def test_a_question_goes_to_the_model_with_a_response_request() -> None:
    core = _delegating()
    core.agent_question("appr_1", QUESTION)
    sent, shown = _drain(core)
    text = "[BACKEND] " + question_text("appr_1", QUESTION)
    assert sent == [
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        },
        {"type": "response.create"},
    ]
    assert shown == []
    assert core.pending_question == PendingQuestion("appr_1", QUESTION)


@pytest.mark.parametrize(
    ("approved", "output"), [(True, APPROVED_OUTPUT), (False, DECLINED_OUTPUT)]
)
def test_an_answer_goes_to_the_agent_and_closes_the_call(approved: object, output: str) -> None:
    assert isinstance(approved, bool)
    core = _asked()
    sent, shown = _answer(core, approved=approved)  # no request id: the waiting question
    assert ApprovalAnswer("appr_1", approved=approved) in shown
    assert _outputs_of(sent) == [output]
    assert sent[-1] == {"type": "response.create"}
    assert core.pending_question is None


def test_an_answer_with_no_question_waiting_changes_nothing() -> None:
    core = _delegating()
    sent, shown = _answer(core, approved=True)
    assert not any(isinstance(o, ApprovalAnswer) for o in shown)
    assert _outputs_of(sent) == [NOT_PENDING_OUTPUT]
    assert sent[-1] == {"type": "response.create"}


def test_a_second_answer_is_late() -> None:
    core = _asked()
    _answer(core, approved=False)
    sent, shown = _answer(core, approved=True)
    assert not any(isinstance(o, ApprovalAnswer) for o in shown)
    assert _outputs_of(sent) == [NOT_PENDING_OUTPUT]


def test_an_answer_for_another_request_leaves_the_question_waiting() -> None:
    core = _asked()
    sent, shown = _answer(core, approved=True, request_id="appr_0")
    assert not any(isinstance(o, ApprovalAnswer) for o in shown)
    assert _outputs_of(sent) == [NOT_PENDING_OUTPUT]
    assert core.pending_question is not None
    _, shown = _answer(core, approved=True, request_id="appr_1")
    assert ApprovalAnswer("appr_1", approved=True) in shown


def test_an_unclear_answer_asks_again_and_the_question_keeps_waiting() -> None:
    core = _asked()
    sent, shown = _answer(core, approved=None)
    assert _outputs_of(sent) == [UNCLEAR_OUTPUT]
    assert not any(isinstance(o, ApprovalAnswer) for o in shown)
    assert core.pending_question is not None


def test_a_newer_question_replaces_the_waiting_one() -> None:
    core = _asked()
    core.agent_question("appr_2", "May I run `curl example.org`? It needs the network.")
    sent, _ = _drain(core)
    assert "request_id appr_2" in sent[0]["item"]["content"][0]["text"]
    _, shown = _answer(core, approved=True)
    assert ApprovalAnswer("appr_2", approved=True) in shown


def test_the_agent_resolving_its_own_question_closes_it_and_tells_the_model() -> None:
    core = _asked()
    core.agent_question_resolved("appr_1", approved=False)
    sent, _ = _drain(core)
    text = sent[0]["item"]["content"][0]["text"]
    assert text.startswith("[BACKEND] The approval question (request_id appr_1)")
    assert "declined" in text
    assert sent[1] == {"type": "response.create"}
    assert core.pending_question is None
    core.agent_question_resolved("appr_1", approved=False)  # again: nothing
    assert _drain(core) == ([], [])


def test_our_own_answer_resolved_by_the_agent_sends_nothing_more() -> None:
    core = _asked()
    _answer(core, approved=True)
    core.agent_question_resolved("appr_1", approved=True)
    assert _drain(core) == ([], [])


@pytest.mark.parametrize("end", ["complete", "failed", "stopped", "cancelled"])
def test_a_question_dies_with_its_task(end: str) -> None:
    core = _asked()
    if end == "complete":
        core.agent_complete()
    elif end == "failed":
        core.agent_failed("boom")
    elif end == "stopped":
        core.agent_stopped()
    else:
        assert core.cancel_delegation()
    _drain(core)
    assert core.pending_question is None
    sent, shown = _answer(core, approved=True)
    assert not any(isinstance(o, ApprovalAnswer) for o in shown)
    assert _outputs_of(sent) == [NOT_PENDING_OUTPUT]


def test_a_question_of_a_cancelled_task_is_not_asked() -> None:
    core = _delegating()
    assert core.cancel_delegation()
    _drain(core)
    core.agent_question("appr_1", QUESTION)  # the task is being stopped: its end is stale
    assert _drain(core) == ([], [])
    assert core.pending_question is None


def test_the_question_waits_across_a_new_session() -> None:
    old = _asked(resumable=True)
    old.stream_ended("1006")
    assert old.end_reason == "session_lost"
    new = ConversationCore(Version.V2, resumable=True)
    plan = new.restore(old.snapshot())
    sent, _ = _drain(new)
    assert new.pending_question == PendingQuestion("appr_1", QUESTION)
    asked = [m for m in sent if "request_id appr_1" in str(m)]
    assert len(asked) == 1  # the replayed history has the question; it is not asked again
    assert asked[0] in plan.messages
    _, shown = _answer(new, approved=True, request_id="appr_1")
    assert ApprovalAnswer("appr_1", approved=True) in shown


def test_the_question_waits_for_the_active_response() -> None:
    core = _delegating()
    core.receive_event(ResponseCreated("resp_9"), 0.5)
    _drain(core)
    core.agent_question("appr_1", QUESTION)
    sent, _ = _drain(core)
    assert [m["type"] for m in sent] == ["conversation.item.create"]  # the create is owed
    core.receive_event(ResponseDone("resp_9", "completed"), 0.6)
    sent, _ = _drain(core)
    assert sent == [{"type": "response.create"}]


# --- v1: no tools -------------------------------------------------------------------------


def test_v1_speaks_the_question_on_the_active_handoff() -> None:
    core = _delegating(Version.V1)
    core.agent_question("appr_1", QUESTION)
    sent, _ = _drain(core)
    assert sent == [
        {"type": "conversation.handoff.append", "handoff_id": "call_1", "output_text": QUESTION}
    ]


@pytest.mark.parametrize(("words", "approved"), [("yes, go ahead", True), ("no", False)])
def test_v1_a_yes_or_no_handoff_answers_the_question(words: str, approved: object) -> None:
    assert isinstance(approved, bool)
    core = _asked(Version.V1)
    core.receive_event(HandoffRequested("handoff_2", "item_t2", words), 1.0)
    sent, shown = _drain(core)
    assert ApprovalAnswer("appr_1", approved=approved) in shown
    assert not any(isinstance(o, Delegate) for o in shown)  # it does not steer the task
    assert sent[0]["type"] == "conversation.handoff.append"
    assert sent[0]["handoff_id"] == "handoff_2"
    assert core.pending_question is None


def test_v1_other_words_are_an_ordinary_handoff_and_the_question_keeps_waiting() -> None:
    core = _asked(Version.V1)
    core.receive_event(HandoffRequested("handoff_2", "item_t2", "how long will it take"), 1.0)
    _, shown = _drain(core)
    assert any(isinstance(o, Delegate) for o in shown)
    assert core.pending_question is not None


def test_v1_a_yes_with_no_question_is_an_ordinary_handoff() -> None:
    core = _delegating(Version.V1)
    core.receive_event(HandoffRequested("handoff_2", "item_t2", "yes"), 1.0)
    _, shown = _drain(core)
    assert any(isinstance(o, Delegate) for o in shown)
    assert not any(isinstance(o, ApprovalAnswer) for o in shown)

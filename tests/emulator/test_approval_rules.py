"""The scripted model's approval rules: asking to leave the sandbox, saying the question,
and passing the user's yes/no on (rule 1a and the escalation rule of ``_script``)."""

from __future__ import annotations

import json

import pytest

from realtalk.emulator._conversation import Conversation
from realtalk.emulator._script import (
    ESCALATION_JUSTIFICATION,
    InputKind,
    LastInput,
    PlanKind,
    Question,
    ToolCall,
    declared_tools,
    needs_network,
    plan_response,
    responses_answer,
    yes_or_no,
)
from realtalk.emulator._wire import IdFactory
from realtalk.protocol import (
    ANSWER_APPROVAL_TOOL,
    BACKGROUND_AGENT_TOOL,
    CANCEL_AGENT_TOOL,
    REMAIN_SILENT_TOOL,
)

QUESTION = "May I run `pip install requests`? It needs the network."
VOICE = declared_tools(
    [BACKGROUND_AGENT_TOOL, REMAIN_SILENT_TOOL, CANCEL_AGENT_TOOL, ANSWER_APPROVAL_TOOL]
)
WAITING = Question("appr_1", QUESTION)
# The agent's shell tool as it declares it: the escalation parameters included.
SHELL_SPEC = {
    "type": "function",
    "name": "shell",
    "parameters": {
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}},
            "sandbox_permissions": {"type": "string"},
            "justification": {"type": "string"},
        },
        "required": ["command"],
    },
}


def question_text(request_id: str, question: str) -> str:
    """What a realtalk client tells the model (protocol/_questions.py)."""
    return (
        f"The background agent asks for approval (request_id {request_id}): {question}\n"
        "Ask the user exactly this question, then call answer_approval with their yes or no."
    )


def _user(text: str, question: Question | None = WAITING, declared: object = VOICE) -> object:
    return plan_response(
        LastInput(InputKind.USER_TEXT, f"[USER] {text}"),
        None,
        v1=False,
        declared=declared,  # type: ignore[arg-type]
        delegating=True,
        question=question,
    )


def test_the_question_is_said_as_the_question() -> None:
    text = question_text("appr_1", QUESTION)  # what a realtalk client sends
    plan = plan_response(LastInput(InputKind.BACKEND_TEXT, text), text, v1=False, declared=VOICE)
    assert plan.kind is PlanKind.SPEAK
    assert plan.text == QUESTION


@pytest.mark.parametrize(
    ("said", "approved"),
    [("yes", True), ("Yes please.", True), ("go ahead", True), ("sure", True)]
    + [("no", False), ("don't", False), ("No, do not do that.", False)],
)
def test_a_yes_or_no_while_the_question_waits_calls_answer_approval(
    said: str, approved: object
) -> None:
    plan = _user(said)
    assert plan.kind is PlanKind.CALL_TOOL  # type: ignore[attr-defined]
    assert plan.tool_name == "answer_approval"  # type: ignore[attr-defined]
    args = json.loads(plan.arguments)  # type: ignore[attr-defined]
    assert args == {"approved": approved, "request_id": "appr_1"}


def test_other_words_while_the_question_waits_are_answered_as_usual() -> None:
    plan = _user("how long will it take")
    assert plan.kind is PlanKind.SPEAK  # type: ignore[attr-defined]


def test_a_yes_with_no_question_or_no_tool_calls_nothing() -> None:
    assert _user("yes", question=None).kind is PlanKind.SPEAK  # type: ignore[attr-defined]
    undeclared = declared_tools([BACKGROUND_AGENT_TOOL])
    assert _user("yes", declared=undeclared).kind is PlanKind.SPEAK  # type: ignore[attr-defined]


def test_the_answer_output_is_said() -> None:
    last = LastInput(InputKind.TOOL_OUTPUT, "Declined: not run.", "item_1", "answer_approval")
    plan = plan_response(last, None, v1=False, declared=VOICE)
    assert (plan.kind, plan.text) == (PlanKind.SPEAK, "Declined: not run.")


def test_yes_or_no_is_strict_about_what_counts() -> None:
    assert yes_or_no("okay, do it") is True
    assert yes_or_no("nope") is False
    assert yes_or_no("nothing") is None
    assert yes_or_no("now run the tests") is None


def _item(text: str, item_id: str) -> dict[str, object]:
    return {
        "type": "message",
        "id": item_id,
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def test_the_conversation_knows_the_waiting_question() -> None:
    conversation = Conversation(IdFactory())
    conversation.remember(
        {"id": "c1", "type": "function_call", "name": "background_agent", "call_id": "call_1"}
    )
    assert conversation.pending_question() is None
    conversation.add_client_item(_item("[BACKEND] " + question_text("appr_1", QUESTION), "q1"))
    assert conversation.pending_question() == WAITING
    conversation.remember(
        {"id": "c2", "type": "function_call", "name": "answer_approval", "call_id": "call_2"}
    )
    assert conversation.pending_question() is None  # answered
    conversation.add_client_item(_item("[BACKEND] " + question_text("appr_2", QUESTION), "q2"))
    assert conversation.pending_question() == Question("appr_2", QUESTION)
    conversation.add_client_item(
        {"type": "function_call_output", "call_id": "call_1", "output": "Cancelled."}
    )
    assert conversation.pending_question() is None  # the task is over


# --- the Responses model asks to leave the sandbox -----------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "pip install requests",
        "python3 -m pip install requests",
        "curl -sS https://example.org",
        "wget https://example.org/x",
        "git clone https://example.org/r.git",
        "npm install left-pad",
    ],
)
def test_a_command_that_needs_the_network_is_escalated(command: str) -> None:
    answer = responses_answer(f"run `{command}`", declared_tools([SHELL_SPEC]))
    assert isinstance(answer, list)
    (call,) = answer
    assert isinstance(call, ToolCall)
    args = json.loads(call.arguments)
    assert args["sandbox_permissions"] == "require_escalated"
    assert args["justification"] == ESCALATION_JUSTIFICATION


def test_the_users_words_can_say_it_needs_the_network() -> None:
    answer = responses_answer(
        "run `python3 fetch.py`. It needs the network.", declared_tools([SHELL_SPEC])
    )
    assert isinstance(answer, list)
    assert json.loads(answer[0].arguments)["sandbox_permissions"] == "require_escalated"


@pytest.mark.parametrize("command", ["ls -la", "git status", "pip list", "python3 -c 1"])
def test_other_commands_stay_in_the_sandbox(command: str) -> None:
    answer = responses_answer(f"run `{command}`", declared_tools([SHELL_SPEC]))
    assert isinstance(answer, list)
    assert "sandbox_permissions" not in json.loads(answer[0].arguments)
    assert not needs_network("", command.split())


def test_a_shell_tool_without_the_parameter_is_never_escalated() -> None:
    plain = {
        "type": "function",
        "name": "shell",
        "parameters": {"type": "object", "properties": {"command": {"type": "array"}}},
    }
    answer = responses_answer("run `pip install requests`", declared_tools([plain]))
    assert isinstance(answer, list)
    assert json.loads(answer[0].arguments) == {"command": ["pip", "install", "requests"]}

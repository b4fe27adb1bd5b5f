"""The scripted realtime model's next response (pure): rules 1-8 for realtime inputs.

Part of the rules of :mod:`realtalk.emulator._script` (documented there), including
the approval rules: a ``[BACKEND] `` approval question is said as the question, and
the user's yes/no while it waits calls ``answer_approval``.
"""

from __future__ import annotations

import enum
import re
from typing import Final, NamedTuple

import msgspec

from realtalk.emulator._script_say import output_sentence, said
from realtalk.emulator._script_tools import Declared, call_tool, choose_calls

__all__ = [
    "ANSWER_APPROVAL_TOOL",
    "BACKEND_PREFIX",
    "BACKGROUND_AGENT_TOOL",
    "CANCELLED_SAID",
    "CANCEL_AGENT_TOOL",
    "FALLBACK_ACK",
    "GREETING",
    "REMAIN_SILENT_TOOL",
    "STILL_WORKING",
    "USER_PREFIX",
    "InputKind",
    "LastInput",
    "Plan",
    "PlanKind",
    "Question",
    "approval_question",
    "plan_response",
    "strip_user_prefix",
    "yes_or_no",
]

USER_PREFIX: Final = "[USER] "
BACKEND_PREFIX: Final = "[BACKEND] "
FALLBACK_ACK: Final = "Okay."
GREETING: Final = "How can I help?"
BACKGROUND_AGENT_TOOL: Final = "background_agent"
REMAIN_SILENT_TOOL: Final = "remain_silent"
CANCEL_AGENT_TOOL: Final = "cancel_background_agent"
CANCELLED_SAID: Final = "The background task was cancelled."
STILL_WORKING: Final = "The agent is still working on it."
_CANCEL_PHRASES: Final = frozenset(
    {
        "stop",
        "stop it",
        "stop that",
        "stop the task",
        "stop the agent",
        "cancel",
        "cancel it",
        "cancel that",
        "cancel the task",
        "never mind",
        "nevermind",
        "abort",
    }
)
ANSWER_APPROVAL_TOOL: Final = "answer_approval"
_QUESTION: Final = re.compile(r"asks for approval \(request_id ([^)\s]+)\): ([^\n]+)")
_YES: Final = re.compile(r"(yes|yeah|yep|sure|ok|okay|go ahead|do it|please do)\b")
_NO: Final = re.compile(r"(no|nope|don'?t|do not)\b")


class Question(NamedTuple):
    """The agent's approval question, as a realtalk client puts it to the model."""

    request_id: str
    question: str


def approval_question(backend_text: str) -> Question | None:
    """The question in a ``[BACKEND] `` text ("... asks for approval (request_id X): Q"),
    or None when the text is not one."""
    match = _QUESTION.search(backend_text)
    return None if match is None else Question(match.group(1), match.group(2).strip())


def yes_or_no(text: str) -> bool | None:
    """True for a yes ("yes", "yes please", "go ahead", "sure"), False for a no ("no",
    "don't"), None for anything else."""
    words = " ".join(re.sub(r"[,.!?]", " ", text.lower()).split())
    if _NO.match(words):
        return False
    return True if _YES.match(words) else None


class InputKind(enum.Enum):
    NONE = "none"
    USER_TEXT = "user_text"
    BACKEND_TEXT = "backend_text"
    TOOL_OUTPUT = "tool_output"


class LastInput(NamedTuple):
    kind: InputKind
    text: str = ""
    item_id: str = ""
    tool: str = ""
    """TOOL_OUTPUT: the name of the called tool, when the call is known."""


class PlanKind(enum.Enum):
    SPEAK = "speak"
    CALL_TOOL = "call_tool"  # v2 function call
    HANDOFF = "handoff"  # v1 conversation.handoff.requested
    NOTHING = "nothing"


class Plan(NamedTuple):
    kind: PlanKind
    text: str = ""  # SPEAK: what to say; HANDOFF: input transcript
    tool_name: str = ""
    arguments: str = ""


def strip_user_prefix(text: str) -> str:
    return text.removeprefix(USER_PREFIX)


def _wants_handoff(text: str) -> bool:
    lowered = text.strip().lower()
    return lowered.startswith("agent,") or "ask the agent" in lowered


def _wants_cancel(text: str) -> bool:
    words = text.strip().lower().rstrip(".!")
    for lead in ("agent,", "please", "ok,", "okay,"):
        words = words.removeprefix(lead).strip()
    return words.removesuffix(" please").strip(" ,") in _CANCEL_PHRASES


def _plan_user_text(
    text: str,
    declared: Declared,
    *,
    v1: bool,
    earlier: tuple[str, ...],
    delegating: bool,
    question: Question | None,
) -> Plan:
    if "stay silent" in text.lower():
        if v1:
            return Plan(PlanKind.NOTHING)
        silent = declared.tool(REMAIN_SILENT_TOOL)
        if silent is not None:
            call = call_tool(silent, text)
            return Plan(PlanKind.CALL_TOOL, tool_name=call.name, arguments=call.arguments)
    answer = declared.tool(ANSWER_APPROVAL_TOOL)
    verdict = yes_or_no(text)
    if question is not None and not v1 and answer is not None and verdict is not None:
        args: dict[str, object] = {"approved": verdict}
        props = answer.parameters.get("properties") if isinstance(answer.parameters, dict) else None
        if isinstance(props, dict) and "request_id" in props:
            args["request_id"] = question.request_id
        arguments = msgspec.json.encode(args).decode()
        return Plan(PlanKind.CALL_TOOL, tool_name=ANSWER_APPROVAL_TOOL, arguments=arguments)
    cancel = declared.tool(CANCEL_AGENT_TOOL)
    if delegating and not v1 and cancel is not None and _wants_cancel(text):
        call = call_tool(cancel, text)
        return Plan(PlanKind.CALL_TOOL, tool_name=call.name, arguments=call.arguments)
    if _wants_handoff(text):
        if v1:
            return Plan(PlanKind.HANDOFF, text=text)
        agent = declared.tool(BACKGROUND_AGENT_TOOL)
        if agent is not None:
            call = call_tool(agent, text, words=text)
            return Plan(PlanKind.CALL_TOOL, tool_name=call.name, arguments=call.arguments)
    calls = [] if v1 else choose_calls(text, declared, max_calls=1)
    if calls:
        return Plan(PlanKind.CALL_TOOL, tool_name=calls[0].name, arguments=calls[0].arguments)
    words = said(text, declared, earlier)
    if delegating:
        words = f"{words}{'' if words.endswith(('.', '!', '?')) else '.'} {STILL_WORKING}"
    return Plan(PlanKind.SPEAK, text=words)


def plan_response(
    last: LastInput,
    backend_since_handoff: str | None,
    *,
    v1: bool,
    declared: Declared | None = None,
    earlier: tuple[str, ...] = (),
    delegating: bool = False,
    question: Question | None = None,
) -> Plan:
    """Decide the next realtime response from the latest input (see the module rules).

    ``earlier``: the user messages before the latest input (rule 7), oldest first.
    ``delegating``: a ``background_agent`` call has no output yet (a task runs).
    ``question``: the agent's approval question waiting for the user's answer.
    """
    declared = declared or Declared()
    if last.kind is InputKind.USER_TEXT:
        return _plan_user_text(
            strip_user_prefix(last.text),
            declared,
            v1=v1,
            earlier=earlier,
            delegating=delegating,
            question=question,
        )
    if last.kind is InputKind.BACKEND_TEXT:
        asked = approval_question(last.text)
        if asked is not None:
            return Plan(PlanKind.SPEAK, text=asked.question)
        return Plan(PlanKind.SPEAK, text=f"The agent says: {last.text}")
    if last.kind is InputKind.TOOL_OUTPUT:
        if last.tool in (CANCEL_AGENT_TOOL, ANSWER_APPROVAL_TOOL):
            return Plan(PlanKind.SPEAK, text=last.text.strip() or CANCELLED_SAID)
        if last.tool != REMAIN_SILENT_TOOL and last.text.lower().startswith("cancelled"):
            return Plan(PlanKind.SPEAK, text=CANCELLED_SAID)
        if last.tool and last.tool not in (BACKGROUND_AGENT_TOOL, REMAIN_SILENT_TOOL):
            return Plan(PlanKind.SPEAK, text=output_sentence(last.tool, last.text))
        if backend_since_handoff:
            return Plan(PlanKind.SPEAK, text=f"The agent says: {backend_since_handoff}")
        return Plan(PlanKind.SPEAK, text=FALLBACK_ACK)
    return Plan(PlanKind.SPEAK, text=GREETING)

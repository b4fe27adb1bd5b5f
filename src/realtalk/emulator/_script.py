"""The scripted model's rules: what it answers to what (pure functions, no I/O).

Rules, applied when a response is created (``response.create``, a server-VAD turn,
or — v1 — a ``conversation.handoff.append``):

1. The latest client input since the previous response decides the answer:

   * user text (a ``[USER] `` prefix is stripped) or an audio transcript:

     - contains "stay silent" (any case): v2 calls ``remain_silent`` with ``{}``;
       v1 produces nothing at all;
     - starts with "agent," or contains "ask the agent" (any case): v2 calls
       ``background_agent`` with ``{"prompt":"<text>"}``; v1 emits
       ``conversation.handoff.requested`` with ``input_transcript`` = the text;
     - otherwise the model says ``You said: <text>``.
   * a user message whose text starts with ``[BACKEND] ``: ``The agent says: <rest>``.
   * a ``function_call_output``: ``The agent says: <content>`` quoting the latest
     ``[BACKEND] `` message received since the model last called
     ``background_agent``, or ``Okay.`` when there was none.
   * nothing new: ``How can I help?``.

2. v1 ``conversation.handoff.append`` makes the model say ``output_text`` verbatim.

The scripted Responses model (``_responses``) also edits files: a user text that
contains a ``*** Begin Patch`` ... ``*** End Patch`` block yields an
``apply_patch`` call with that block as ``input`` (:func:`patch_in`).

Audio turns are transcribed deterministically: the k-th committed audio turn of a
session (k from 0) becomes ``speech_transcripts[k % len]`` when that list is
configured, else ``(speech X.Xs)`` with the turn's duration rounded to 0.1 s.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

import msgspec

__all__ = [
    "BACKEND_PREFIX",
    "BACKGROUND_AGENT_TOOL",
    "REMAIN_SILENT_TOOL",
    "FALLBACK_ACK",
    "APPLY_PATCH_TOOL",
    "GREETING",
    "USER_PREFIX",
    "InputKind",
    "LastInput",
    "Plan",
    "PlanKind",
    "plan_response",
    "split_words",
    "patch_in",
    "strip_user_prefix",
    "transcript_for_turn",
]

USER_PREFIX: Final = "[USER] "
BACKEND_PREFIX: Final = "[BACKEND] "
FALLBACK_ACK: Final = "Okay."
GREETING: Final = "How can I help?"
BACKGROUND_AGENT_TOOL: Final = "background_agent"
REMAIN_SILENT_TOOL: Final = "remain_silent"
APPLY_PATCH_TOOL: Final = "apply_patch"
_PATCH_BEGIN: Final = "*** Begin Patch"
_PATCH_END: Final = "*** End Patch"


def patch_in(text: str) -> str | None:
    """The first ``*** Begin Patch`` ... ``*** End Patch`` block of ``text``, if any."""
    start = text.find(_PATCH_BEGIN)
    end = text.find(_PATCH_END, start)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(_PATCH_END)] + "\n"


class InputKind(enum.Enum):
    NONE = "none"
    USER_TEXT = "user_text"
    BACKEND_TEXT = "backend_text"
    TOOL_OUTPUT = "tool_output"


class LastInput(NamedTuple):
    kind: InputKind
    text: str = ""
    item_id: str = ""


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


def plan_response(last: LastInput, backend_since_handoff: str | None, *, v1: bool) -> Plan:
    """Decide the next response from the latest input (see the module rules)."""
    if last.kind is InputKind.USER_TEXT:
        text = strip_user_prefix(last.text)
        if "stay silent" in text.lower():
            if v1:
                return Plan(PlanKind.NOTHING)
            return Plan(PlanKind.CALL_TOOL, tool_name=REMAIN_SILENT_TOOL, arguments="{}")
        if _wants_handoff(text):
            if v1:
                return Plan(PlanKind.HANDOFF, text=text)
            arguments = msgspec.json.encode({"prompt": text}).decode()
            return Plan(PlanKind.CALL_TOOL, tool_name=BACKGROUND_AGENT_TOOL, arguments=arguments)
        return Plan(PlanKind.SPEAK, text=f"You said: {text}")
    if last.kind is InputKind.BACKEND_TEXT:
        return Plan(PlanKind.SPEAK, text=f"The agent says: {last.text}")
    if last.kind is InputKind.TOOL_OUTPUT:
        if backend_since_handoff:
            return Plan(PlanKind.SPEAK, text=f"The agent says: {backend_since_handoff}")
        return Plan(PlanKind.SPEAK, text=FALLBACK_ACK)
    return Plan(PlanKind.SPEAK, text=GREETING)


def transcript_for_turn(turn_index: int, duration_ms: int, transcripts: tuple[str, ...]) -> str:
    """Deterministic transcript of the ``turn_index``-th audio turn of a session."""
    if transcripts:
        return transcripts[turn_index % len(transcripts)]
    return f"(speech {duration_ms / 1000:.1f}s)"


def split_words(text: str) -> list[str]:
    """Split into transcript delta pieces that concatenate back to ``text`` exactly."""
    pieces: list[str] = []
    current = ""
    for char in text:
        if char == " " and current.strip():
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces

"""The scripted model's rules: what the emulator answers to what (pure, no I/O).

This module is the one place that documents the emulator's model, for both the realtime
API and the Responses API. Everything is deterministic. The code is split by
responsibility: declared tools and calls (:mod:`._script_tools`), what is said
(:mod:`._script_say`), the realtime response plan (:mod:`._script_realtime`); the
Responses answer and the speech helpers are here.

Tools
-----
The model only ever calls *function tools the client declared* (realtime
``session.tools`` or ``response.tools``; Responses ``tools``), and only as
``tool_choice`` allows:

* ``"auto"`` (default): call a tool when a rule below says so;
* ``"none"``: never call a tool;
* ``"required"``: like auto, and if no rule picks a tool, call the first declared one;
* ``{"type": "function", "name": X}``: call X (it must be declared);
* ``{"type": "allowed_tools", "mode": ..., "tools": [...]}``: only those tools, with
  ``mode`` ``auto`` or ``required``.

Arguments are built to satisfy the tool's ``parameters`` JSON Schema
(:mod:`realtalk.emulator._schema_args`): required properties get plausible values of
the right type, and the first string property gets the *text value*: the first quoted
value in the user's words (``"..."``, ``'...'`` or ``“...”``), or, for
``background_agent``, the user's words themselves. A ``shell`` tool called for a
backticked command gets ``{"command": <argv>}``; when the command needs the network
(``curl``, ``wget``, ``pip install``, ``npm install``, ``git clone``, also as
``python -m pip install``, or the user's words say "needs the network") and the tool
declares ``sandbox_permissions``, also ``"sandbox_permissions": "require_escalated"``
and ``"justification": "It needs the network."`` (so a sandboxed agent asks the user).

Rules, for the latest user text (``[USER] `` prefix stripped; realtime audio turns
count as text through their transcript):

1. contains "stay silent" (any case): realtime v2 calls ``remain_silent`` if
   declared; v1 produces nothing at all.
1a. while the agent's approval question waits (a ``[BACKEND] `` message "... asks
   for approval (request_id X): <question>" with no ``answer_approval`` call after
   it, during a delegation), a yes or no — "yes", "yes please", "yeah", "sure", "ok",
   "go ahead", "do it" / "no", "nope", "don't", "do not" (any case, at the start) —
   calls ``answer_approval`` if declared, with ``{"approved": true|false}`` (and the
   ``request_id`` when the tool declares it). v1 has no tools: its model never
   answers questions.
1b. while a delegation runs (a ``background_agent`` call has no output yet), a
   request to stop it — "stop", "cancel", "cancel that", "stop it", "never mind",
   "abort", ... (any case, an "agent," or "please" in front allowed) — calls
   ``cancel_background_agent`` if declared (realtalk's own tool).
2. starts with "agent," or contains "ask the agent" (any case): realtime v2 calls
   ``background_agent`` if declared; v1 emits ``conversation.handoff.requested``
   with the text.
3. names declared function tools (whole word, any case, e.g. "use get_weather"):
   call them. Responses calls every named tool, in the order named, unless
   ``parallel_tool_calls`` is false (then only the first); realtime calls the first.
4. a backticked command ("run `ls -la`") and a declared ``shell`` tool: call
   ``shell`` with the command as argv; a ``*** Begin Patch`` ... ``*** End Patch``
   block and a declared ``apply_patch`` tool: call ``apply_patch`` with the block as
   ``{"input": <block>}`` (:func:`patch_in`).
5. ``tool_choice`` forces a tool (``required`` or a named function): call it.
6. contains "your instructions": say ``My instructions are: <instructions>`` (or
   ``I have no instructions.``).
7. realtime, contains "what did I say" (any case): quote the earlier user messages of
   this session's conversation, oldest first, ``Before this you said: "<a>"; "<b>".``
   (typed text and spoken turns' transcripts, ``[USER] `` stripped, ``[BACKEND] ``
   updates left out; at most 1,000 characters, newest kept), or ``You have not said
   anything before.`` A new session knows only the items it was sent, so this shows
   whether a client restored its history after a reconnect.
8. otherwise say ``You said: <text>``, and while a delegation runs add
   ``The agent is still working on it.`` (the model knows its call is open).

A rule whose tool is not declared (or not allowed) is skipped. Other inputs:

* Responses, the latest user text is a ``<realtime_delegation>`` block (what a
  realtime client hands its background agent): the rules apply to the block's
  ``<input>`` text alone (XML entities decoded), so the answer quotes the person's
  words, never the markup or the transcript around them (:func:`delegated_input`).

* Responses, the input ends with ``function_call_output`` items: one message
  quoting each output, ``I ran `<argv>`. It printed: <output>`` for ``shell``, else
  ``The <name> tool returned: <output>``. No user message at all: ``You said nothing.``
* realtime, a user message starting with ``[BACKEND] ``: ``The agent says: <rest>``;
  an approval question (see 1a): the question itself (``May I run `…`? It needs the
  network.``).
* realtime ``function_call_output`` of a ``background_agent`` (or unknown) call:
  ``The agent says: <latest [BACKEND] text since the model last called
  background_agent>``, or ``Okay.`` when there was none — unless the output starts
  with "Cancelled": then ``The background task was cancelled.``; of
  ``cancel_background_agent`` or ``answer_approval``: the output itself; of any other tool:
  ``The <name> tool returned: <output>``.
* realtime, nothing new since the last response: ``How can I help?``.
* realtime v1 ``conversation.handoff.append``: the model says ``output_text`` verbatim.

Audio turns: the k-th committed audio turn of a session (k from 0) becomes
``speech_transcripts[k % len]`` when that list is configured; else what offline speech
recognition heard (:mod:`realtalk.emulator._asr`, deterministic for the same audio);
else ``(speech X.Xs)`` with the turn's duration rounded to 0.1 s.
"""

from __future__ import annotations

from typing import Final

from realtalk.emulator._script_realtime import (
    ANSWER_APPROVAL_TOOL,
    BACKEND_PREFIX,
    BACKGROUND_AGENT_TOOL,
    CANCEL_AGENT_TOOL,
    CANCELLED_SAID,
    FALLBACK_ACK,
    GREETING,
    REMAIN_SILENT_TOOL,
    STILL_WORKING,
    USER_PREFIX,
    InputKind,
    LastInput,
    Plan,
    PlanKind,
    Question,
    approval_question,
    plan_response,
    strip_user_prefix,
    yes_or_no,
)
from realtalk.emulator._script_say import delegated_input, output_sentence, said
from realtalk.emulator._script_tools import (
    APPLY_PATCH_TOOL,
    ESCALATION_JUSTIFICATION,
    SHELL_TOOL,
    Declared,
    ToolCall,
    ToolSpec,
    choose_calls,
    declared_tools,
    needs_network,
    patch_in,
)

__all__ = [
    "ANSWER_APPROVAL_TOOL",
    "APPLY_PATCH_TOOL",
    "BACKEND_PREFIX",
    "BACKGROUND_AGENT_TOOL",
    "CANCELLED_SAID",
    "CANCEL_AGENT_TOOL",
    "ESCALATION_JUSTIFICATION",
    "FALLBACK_ACK",
    "GREETING",
    "NOTHING_SAID",
    "REMAIN_SILENT_TOOL",
    "SHELL_TOOL",
    "STILL_WORKING",
    "USER_PREFIX",
    "Declared",
    "InputKind",
    "LastInput",
    "Plan",
    "PlanKind",
    "Question",
    "ToolCall",
    "ToolSpec",
    "approval_question",
    "choose_calls",
    "declared_tools",
    "delegated_input",
    "needs_network",
    "output_sentence",
    "patch_in",
    "plan_response",
    "responses_answer",
    "split_words",
    "strip_user_prefix",
    "transcript_for_turn",
    "yes_or_no",
]

NOTHING_SAID: Final = "You said nothing."


def responses_answer(text: str | None, declared: Declared) -> list[ToolCall] | str:
    """The Responses reply to the latest user ``text``: tool calls, or what to say."""
    if text is None:
        return NOTHING_SAID
    text = delegated_input(text)
    calls = choose_calls(text, declared, max_calls=len(declared.tools) or 1)
    return calls if calls else said(text, declared)


# -- speech --------------------------------------------------------------------------


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

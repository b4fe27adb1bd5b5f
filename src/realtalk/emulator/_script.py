"""The scripted model's rules: what the emulator answers to what (pure, no I/O).

This module is the one place that defines the emulator's model, for both the realtime
API and the Responses API. Everything is deterministic.

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
backticked command gets ``{"command": <argv>}``.

Rules, for the latest user text (``[USER] `` prefix stripped; realtime audio turns
count as text through their transcript):

1. contains "stay silent" (any case): realtime v2 calls ``remain_silent`` if
   declared; v1 produces nothing at all.
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
8. otherwise say ``You said: <text>``.

A rule whose tool is not declared (or not allowed) is skipped. Other inputs:

* Responses, the latest user text is a ``<realtime_delegation>`` block (what a
  realtime client hands its background agent): the rules apply to the block's
  ``<input>`` text alone (XML entities decoded), so the answer quotes the person's
  words, never the markup or the transcript around them (:func:`delegated_input`).

* Responses, the input ends with ``function_call_output`` items: one message
  quoting each output, ``I ran `<argv>`. It printed: <output>`` for ``shell``, else
  ``The <name> tool returned: <output>``. No user message at all: ``You said nothing.``
* realtime, a user message starting with ``[BACKEND] ``: ``The agent says: <rest>``.
* realtime ``function_call_output`` of a ``background_agent`` (or unknown) call:
  ``The agent says: <latest [BACKEND] text since the model last called
  background_agent>``, or ``Okay.`` when there was none; of any other tool:
  ``The <name> tool returned: <output>``.
* realtime, nothing new since the last response: ``How can I help?``.
* realtime v1 ``conversation.handoff.append``: the model says ``output_text`` verbatim.

Audio turns: the k-th committed audio turn of a session (k from 0) becomes
``speech_transcripts[k % len]`` when that list is configured; else what offline speech
recognition heard (:mod:`realtalk.emulator._asr`, deterministic for the same audio);
else ``(speech X.Xs)`` with the turn's duration rounded to 0.1 s.
"""

from __future__ import annotations

import enum
import re
import shlex
from typing import Any, Final, NamedTuple

import msgspec

from realtalk.emulator._schema_args import arguments_for

__all__ = [
    "BACKEND_PREFIX",
    "BACKGROUND_AGENT_TOOL",
    "FALLBACK_ACK",
    "GREETING",
    "NOTHING_SAID",
    "APPLY_PATCH_TOOL",
    "REMAIN_SILENT_TOOL",
    "SHELL_TOOL",
    "USER_PREFIX",
    "Declared",
    "InputKind",
    "LastInput",
    "Plan",
    "PlanKind",
    "ToolCall",
    "ToolSpec",
    "choose_calls",
    "declared_tools",
    "delegated_input",
    "output_sentence",
    "patch_in",
    "plan_response",
    "responses_answer",
    "split_words",
    "strip_user_prefix",
    "transcript_for_turn",
]

JsonDict = dict[str, Any]

USER_PREFIX: Final = "[USER] "
BACKEND_PREFIX: Final = "[BACKEND] "
FALLBACK_ACK: Final = "Okay."
GREETING: Final = "How can I help?"
NOTHING_SAID: Final = "You said nothing."
BACKGROUND_AGENT_TOOL: Final = "background_agent"
REMAIN_SILENT_TOOL: Final = "remain_silent"
SHELL_TOOL: Final = "shell"
APPLY_PATCH_TOOL: Final = "apply_patch"
_PATCH_BEGIN: Final = "*** Begin Patch"
_PATCH_END: Final = "*** End Patch"
_MAX_ECHO: Final = 1000
_COMMAND: Final = re.compile(r"`([^`\n]+)`")
_DELEGATION: Final = re.compile(
    r"^\s*<realtime_delegation>\s*<input>(.*?)</input>.*</realtime_delegation>\s*$", re.DOTALL
)
_XML_ENTITIES: Final = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}
_QUOTED: Final = re.compile(r'"([^"\n]+)"|(?<!\w)\'([^\'\n]+)\'(?!\w)|“([^”\n]+)”')


# -- declared tools ------------------------------------------------------------------


class ToolSpec(NamedTuple):
    """One declared function tool."""

    name: str
    parameters: Any


class Declared(NamedTuple):
    """What the client declared for one response: tools, tool choice, instructions."""

    tools: tuple[ToolSpec, ...] = ()
    choice: str = "auto"
    """``auto``, ``none``, ``required`` or ``function`` (then :attr:`forced` names it)."""
    forced: str | None = None
    parallel: bool = True
    instructions: str = ""

    def tool(self, name: str) -> ToolSpec | None:
        """The declared tool ``name`` if the tool choice allows calling it."""
        if self.choice == "none" or (self.forced is not None and self.forced != name):
            return None
        return next((t for t in self.tools if t.name == name), None)


def _function_specs(tools: Any) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        nested = tool.get("function")
        body: JsonDict = nested if isinstance(nested, dict) else tool
        name = body.get("name")
        if isinstance(name, str) and name and all(s.name != name for s in specs):
            specs.append(ToolSpec(name, body.get("parameters")))
    return specs


def declared_tools(
    tools: Any, tool_choice: Any = "auto", *, parallel: Any = True, instructions: Any = ""
) -> Declared:
    """Read the client's declarations (lenient: malformed parts are ignored)."""
    specs = _function_specs(tools)
    choice, forced = "auto", None
    if tool_choice in ("none", "required"):
        choice = tool_choice
    elif isinstance(tool_choice, dict):
        kind = tool_choice.get("type")
        if kind == "function" and isinstance(tool_choice.get("name"), str):
            choice, forced = "function", tool_choice["name"]
        elif kind == "allowed_tools":
            allowed = {n.name for n in _function_specs(tool_choice.get("tools"))}
            specs = [s for s in specs if s.name in allowed]
            choice = "required" if tool_choice.get("mode") == "required" else "auto"
    return Declared(
        tools=tuple(specs),
        choice=choice,
        forced=forced,
        parallel=parallel is not False,
        instructions=instructions if isinstance(instructions, str) else "",
    )


class ToolCall(NamedTuple):
    """A call the model makes: tool name and JSON ``arguments``."""

    name: str
    arguments: str


def _quoted_value(text: str) -> str | None:
    match = _QUOTED.search(text)
    if match is None:
        return None
    return next(group for group in match.groups() if group is not None)


def _argv(text: str) -> list[str]:
    match = _COMMAND.search(text)
    if match is None:
        return []
    try:
        return shlex.split(match.group(1))
    except ValueError:
        return []


def patch_in(text: str) -> str | None:
    """The first ``*** Begin Patch`` ... ``*** End Patch`` block of ``text``, if any."""
    start = text.find(_PATCH_BEGIN)
    end = text.find(_PATCH_END, start)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(_PATCH_END)] + "\n"


def _call(tool: ToolSpec, text: str, *, words: str | None = None) -> ToolCall:
    argv = _argv(text) if tool.name == SHELL_TOOL else []
    args = arguments_for(tool.parameters, text=words if words is not None else _quoted_value(text))
    if argv:
        args["command"] = argv
    return ToolCall(tool.name, msgspec.json.encode(args).decode())


def _named(text: str, declared: Declared) -> list[ToolSpec]:
    found: list[tuple[int, ToolSpec]] = []
    for tool in declared.tools:
        match = re.search(rf"(?<![\w-]){re.escape(tool.name)}(?![\w-])", text, re.IGNORECASE)
        if match is not None and declared.tool(tool.name) is not None:
            found.append((match.start(), tool))
    return [tool for _, tool in sorted(found, key=lambda pair: pair[0])]


def choose_calls(text: str, declared: Declared, *, max_calls: int) -> list[ToolCall]:
    """Rules 3-5: the tool calls the latest user ``text`` asks for (may be empty)."""
    if declared.choice == "none":
        return []
    named = _named(text, declared)
    if named:
        return [_call(tool, text) for tool in named[: max_calls if declared.parallel else 1]]
    shell = declared.tool(SHELL_TOOL)
    if shell is not None and _argv(text):
        return [_call(shell, text)]
    patch, apply_patch = patch_in(text), declared.tool(APPLY_PATCH_TOOL)
    if patch is not None and apply_patch is not None:
        return [ToolCall(APPLY_PATCH_TOOL, msgspec.json.encode({"input": patch}).decode())]
    if declared.forced is not None:
        forced = declared.tool(declared.forced)
        return [_call(forced, text)] if forced is not None else []
    if declared.choice == "required" and declared.tools:
        return [_call(declared.tools[0], text)]
    return []


def _said(text: str, declared: Declared, earlier: tuple[str, ...] | None = None) -> str:
    """Rules 6-8: what the model says to ``text`` (``earlier``: realtime only, rule 7)."""
    lowered = text.lower()
    if "your instructions" in lowered:
        if declared.instructions.strip():
            return f"My instructions are: {declared.instructions.strip()[:_MAX_ECHO]}"
        return "I have no instructions."
    if earlier is not None and "what did i say" in lowered:
        return _quote_earlier(earlier)
    return f"You said: {text[:_MAX_ECHO]}"


def _quote_earlier(earlier: tuple[str, ...]) -> str:
    quoted: list[str] = []
    used = 0
    for said in reversed(earlier):
        piece = f'"{said}"'
        if quoted and used + len(piece) > _MAX_ECHO:
            break
        quoted.append(piece[:_MAX_ECHO])
        used += len(piece) + 2
    if not quoted:
        return "You have not said anything before."
    return "Before this you said: " + "; ".join(reversed(quoted)) + "."


def output_sentence(name: str, output: str, *, arguments: str = "") -> str:
    """How the model quotes one tool output."""
    text = _tool_text(output)
    if name == SHELL_TOOL:
        return f"I ran `{_command_of(arguments)}`. It printed: {text}"
    return f"The {name} tool returned: {text}" if name else f"The tool returned: {text}"


def _command_of(arguments: str) -> str:
    try:
        args = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return arguments
    argv = args.get("command") if isinstance(args, dict) else None
    if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
        return shlex.join(argv)
    return arguments


def _tool_text(output: str) -> str:
    """The interesting part of a tool output (after ``Output:`` when present)."""
    _, marker, rest = output.partition("Output:\n")
    text = (rest if marker else output).strip()
    return text[:_MAX_ECHO] if text else "(no output)"


def delegated_input(text: str) -> str:
    """The ``<input>`` of a ``<realtime_delegation>`` block, decoded; else ``text`` as is."""
    match = _DELEGATION.match(text)
    if match is None:
        return text
    return re.sub("&(?:lt|gt|quot|apos|amp);", lambda m: _XML_ENTITIES[m.group()], match.group(1))


def responses_answer(text: str | None, declared: Declared) -> list[ToolCall] | str:
    """The Responses reply to the latest user ``text``: tool calls, or what to say."""
    if text is None:
        return NOTHING_SAID
    text = delegated_input(text)
    calls = choose_calls(text, declared, max_calls=len(declared.tools) or 1)
    return calls if calls else _said(text, declared)


# -- realtime ------------------------------------------------------------------------


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


def _plan_user_text(text: str, declared: Declared, *, v1: bool, earlier: tuple[str, ...]) -> Plan:
    if "stay silent" in text.lower():
        if v1:
            return Plan(PlanKind.NOTHING)
        silent = declared.tool(REMAIN_SILENT_TOOL)
        if silent is not None:
            call = _call(silent, text)
            return Plan(PlanKind.CALL_TOOL, tool_name=call.name, arguments=call.arguments)
    if _wants_handoff(text):
        if v1:
            return Plan(PlanKind.HANDOFF, text=text)
        agent = declared.tool(BACKGROUND_AGENT_TOOL)
        if agent is not None:
            call = _call(agent, text, words=text)
            return Plan(PlanKind.CALL_TOOL, tool_name=call.name, arguments=call.arguments)
    calls = [] if v1 else choose_calls(text, declared, max_calls=1)
    if calls:
        return Plan(PlanKind.CALL_TOOL, tool_name=calls[0].name, arguments=calls[0].arguments)
    return Plan(PlanKind.SPEAK, text=_said(text, declared, earlier))


def plan_response(
    last: LastInput,
    backend_since_handoff: str | None,
    *,
    v1: bool,
    declared: Declared | None = None,
    earlier: tuple[str, ...] = (),
) -> Plan:
    """Decide the next realtime response from the latest input (see the module rules).

    ``earlier``: the user messages before the latest input (rule 7), oldest first.
    """
    declared = declared or Declared()
    if last.kind is InputKind.USER_TEXT:
        return _plan_user_text(strip_user_prefix(last.text), declared, v1=v1, earlier=earlier)
    if last.kind is InputKind.BACKEND_TEXT:
        return Plan(PlanKind.SPEAK, text=f"The agent says: {last.text}")
    if last.kind is InputKind.TOOL_OUTPUT:
        if last.tool and last.tool not in (BACKGROUND_AGENT_TOOL, REMAIN_SILENT_TOOL):
            return Plan(PlanKind.SPEAK, text=output_sentence(last.tool, last.text))
        if backend_since_handoff:
            return Plan(PlanKind.SPEAK, text=f"The agent says: {backend_since_handoff}")
        return Plan(PlanKind.SPEAK, text=FALLBACK_ACK)
    return Plan(PlanKind.SPEAK, text=GREETING)


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

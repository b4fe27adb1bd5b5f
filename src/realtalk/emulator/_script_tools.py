"""The scripted model's tools: what the client declared, and which calls a text asks for.

Part of the rules of :mod:`realtalk.emulator._script` (pure): rules 3-5 and the
escalation rule (a ``shell`` call for a command that needs the network asks to run
outside the sandbox, when the tool declares ``sandbox_permissions``).
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Final, NamedTuple

import msgspec

from realtalk.emulator._schema_args import arguments_for

__all__ = [
    "APPLY_PATCH_TOOL",
    "ESCALATION_JUSTIFICATION",
    "SHELL_TOOL",
    "Declared",
    "ToolCall",
    "ToolSpec",
    "call_tool",
    "choose_calls",
    "declared_tools",
    "needs_network",
    "patch_in",
]

JsonDict = dict[str, Any]

SHELL_TOOL: Final = "shell"
APPLY_PATCH_TOOL: Final = "apply_patch"
_PATCH_BEGIN: Final = "*** Begin Patch"
_PATCH_END: Final = "*** End Patch"
_COMMAND: Final = re.compile(r"`([^`\n]+)`")
_QUOTED: Final = re.compile(r'"([^"\n]+)"|(?<!\w)\'([^\'\n]+)\'(?!\w)|“([^”\n]+)”')
ESCALATION_JUSTIFICATION: Final = "It needs the network."
_NETWORK_TOOLS: Final = frozenset({"curl", "wget"})
_NETWORK_SUBCOMMANDS: Final = {
    "pip": "install",
    "pip3": "install",
    "npm": "install",
    "git": "clone",
}


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


def needs_network(text: str, argv: list[str]) -> bool:
    """The escalation rule: ``argv`` is ``curl``/``wget``, ``pip install``, ``npm install``,
    ``git clone`` (also as ``python -m pip install``), or ``text`` says "needs the network"."""
    if "needs the network" in text.lower():
        return True
    if not argv:
        return False
    words = [a.rsplit("/", 1)[-1] for a in argv if not a.startswith("-")]
    if words[:1] and re.fullmatch(r"python3?(\.\d+)?", words[0]) and words[1:2] == ["pip"]:
        words = words[1:]
    if not words:
        return False
    name = words[0]
    return name in _NETWORK_TOOLS or _NETWORK_SUBCOMMANDS.get(name) in words[1:2]


def _escalatable(tool: ToolSpec) -> bool:
    params = tool.parameters
    props = params.get("properties") if isinstance(params, dict) else None
    return isinstance(props, dict) and "sandbox_permissions" in props


def call_tool(tool: ToolSpec, text: str, *, words: str | None = None) -> ToolCall:
    argv = _argv(text) if tool.name == SHELL_TOOL else []
    args = arguments_for(tool.parameters, text=words if words is not None else _quoted_value(text))
    if argv:
        args["command"] = argv
        if _escalatable(tool) and needs_network(text, argv):
            args["sandbox_permissions"] = "require_escalated"
            args["justification"] = ESCALATION_JUSTIFICATION
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
        return [call_tool(tool, text) for tool in named[: max_calls if declared.parallel else 1]]
    shell = declared.tool(SHELL_TOOL)
    if shell is not None and _argv(text):
        return [call_tool(shell, text)]
    patch, apply_patch = patch_in(text), declared.tool(APPLY_PATCH_TOOL)
    if patch is not None and apply_patch is not None:
        return [ToolCall(APPLY_PATCH_TOOL, msgspec.json.encode({"input": patch}).decode())]
    if declared.forced is not None:
        forced = declared.tool(declared.forced)
        return [call_tool(forced, text)] if forced is not None else []
    if declared.choice == "required" and declared.tools:
        return [call_tool(declared.tools[0], text)]
    return []

"""What the scripted model says: rules 6-8, tool outputs, delegated input (pure).

Part of the rules of :mod:`realtalk.emulator._script`.
"""

from __future__ import annotations

import re
import shlex
from typing import Final

import msgspec

from realtalk.emulator._script_tools import SHELL_TOOL, Declared

__all__ = ["delegated_input", "output_sentence", "said"]

_MAX_ECHO: Final = 1000
_DELEGATION: Final = re.compile(
    r"^\s*<realtime_delegation>\s*<input>(.*?)</input>.*</realtime_delegation>\s*$", re.DOTALL
)
_XML_ENTITIES: Final = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


def said(text: str, declared: Declared, earlier: tuple[str, ...] | None = None) -> str:
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

"""Tool definitions the built-in agent advertises to the model (Responses ``tools``)."""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "APPLY_PATCH_SPEC",
    "APPLY_PATCH_TOOL",
    "READ_FILE_SPEC",
    "READ_FILE_TOOL",
    "SHELL_SPEC",
    "SHELL_TOOL",
]

SHELL_TOOL: Final = "shell"
READ_FILE_TOOL: Final = "read_file"
APPLY_PATCH_TOOL: Final = "apply_patch"

SHELL_SPEC: Final[dict[str, Any]] = {
    "type": "function",
    "name": SHELL_TOOL,
    "description": "Runs a shell command and returns its output.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "command": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The command to execute, as a list of arguments",
            },
            "timeout_ms": {
                "type": "number",
                "description": "The timeout for the command in milliseconds",
            },
            "sandbox_permissions": {
                "type": "string",
                "description": (
                    'Sandbox permissions for the command. Set to "require_escalated" to '
                    "request running without sandbox restrictions (for example to use the "
                    'network); defaults to "use_default".'
                ),
            },
            "justification": {
                "type": "string",
                "description": (
                    'Only set if sandbox_permissions is "require_escalated". Request approval '
                    "from the user to run this command outside the sandbox. Phrased as a "
                    "simple question that summarizes the purpose of the command as it relates "
                    "to the task at hand - e.g. 'Do you want to fetch and pull the latest "
                    "version of this git branch?'"
                ),
            },
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}

READ_FILE_SPEC: Final[dict[str, Any]] = {
    "type": "function",
    "name": READ_FILE_TOOL,
    "description": "Reads a text file in the workspace and returns its contents.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "Path of the file, relative to the workspace",
            },
        },
        "required": ["path"],
        "additionalProperties": False,
    },
}

_APPLY_PATCH_DESCRIPTION: Final = """\
Use the `apply_patch` tool to edit files. The patch language is a stripped-down,
file-oriented diff format:

*** Begin Patch
[ one or more file sections ]
*** End Patch

Each file section starts with one of:
*** Add File: <path> - create a new file; every following line is a + line (the content).
*** Delete File: <path> - remove an existing file; nothing follows.
*** Update File: <path> - patch an existing file in place (optionally followed by
*** Move to: <new path> to rename it).

An update has one or more hunks, each introduced by @@ (optionally followed by a line
that appears just before the change, such as a class or function header). Within a
hunk every line starts with ' ' (context), '-' (removed) or '+' (added). Show about
three lines of context above and below each change. Use *** End of File after a hunk
that must match at the end of the file. Paths are relative to the workspace; never
absolute. The whole patch is applied, or nothing when any part does not apply."""

APPLY_PATCH_SPEC: Final[dict[str, Any]] = {
    "type": "function",
    "name": APPLY_PATCH_TOOL,
    "description": _APPLY_PATCH_DESCRIPTION,
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "input": {
                "type": "string",
                "description": "The entire contents of the apply_patch command",
            },
        },
        "required": ["input"],
        "additionalProperties": False,
    },
}

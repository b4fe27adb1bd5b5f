"""The arguments of the model's calls to realtalk's tools, read leniently (pure).

``background_agent``: the delegated text (reference 2.6: the first non-blank of
``input_transcript``, ``input``, ``text``, ``prompt``, ``query``; else the raw
arguments). ``answer_approval`` (realtalk's own): ``approved`` (a boolean) and an
optional ``request_id``; a wrong-typed value counts as absent.
"""

from __future__ import annotations

from typing import Final

import msgspec

from realtalk.protocol._depth import too_deep
from realtalk.protocol._events import AnswerApprovalRequested

__all__ = ["approval_answer", "handoff_input"]

_TOOL_ARGUMENT_KEYS: Final = ("input_transcript", "input", "text", "prompt", "query")


def _decode(arguments: str) -> object:
    if not arguments or too_deep(arguments):
        return None
    try:
        return msgspec.json.decode(arguments)
    except ValueError:
        return None


def handoff_input(arguments: str) -> str:
    """Pick the delegated text out of a ``background_agent`` call's ``arguments``."""
    parsed = _decode(arguments)
    if type(parsed) is dict:
        for key in _TOOL_ARGUMENT_KEYS:
            value = parsed.get(key)
            if type(value) is str and value.strip():
                return value.strip()
    return arguments


def approval_answer(call_id: str, item_id: str, arguments: str) -> AnswerApprovalRequested:
    """The ``answer_approval`` call's event; bad arguments leave its fields None."""
    parsed = _decode(arguments)
    if type(parsed) is not dict:
        return AnswerApprovalRequested(call_id, item_id)
    approved = parsed.get("approved")
    request_id = parsed.get("request_id")
    return AnswerApprovalRequested(
        call_id,
        item_id,
        approved if type(approved) is bool else None,
        request_id if type(request_id) is str and request_id.strip() else None,
    )

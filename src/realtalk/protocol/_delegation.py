"""The text handed to the background agent, and how long agent output may be (pure).

Reference 4.2: a handoff becomes a ``<realtime_delegation>`` block with the person's
words and the transcript since the last one; an agent message goes back at most
:data:`HANDOFF_OUTPUT_LIMIT` characters long.
"""

from __future__ import annotations

import re
from typing import Final

from realtalk.protocol._events import HandoffRequested, TranscriptEntry

__all__ = [
    "HANDOFF_OUTPUT_LIMIT",
    "delegation_input",
    "delegation_text",
    "handoff_request_text",
    "truncate_output",
    "wrap_delegation",
]

HANDOFF_OUTPUT_LIMIT: Final = 4000
"""Most characters one forwarded agent message may have on the wire (~1,000 tokens)."""


# --- delegation text (reference 4.2) -----------------------------------------------------


def _escape_xml(text: str) -> str:
    # Order matters: `&` first so the entities added below are not escaped again.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _transcript_lines(entries: tuple[TranscriptEntry, ...]) -> str:
    return "\n".join(f"{entry.role}: {entry.text}" for entry in entries)


def handoff_request_text(event: HandoffRequested) -> str | None:
    """The user's request: the input transcript, else the transcript lines, else None.

    A whitespace-only input transcript counts as empty.
    """
    if event.input_transcript.strip():
        return event.input_transcript
    lines = _transcript_lines(event.active_transcript)
    return lines if lines.strip() else None


def wrap_delegation(text: str, transcript_delta: str | None = None) -> str:
    """Wrap ``text`` (and the transcript delta, if non-empty) in ``<realtime_delegation>``."""
    parts = ["<realtime_delegation>", f"  <input>{_escape_xml(text)}</input>"]
    if transcript_delta:
        parts.append(f"  <transcript_delta>{_escape_xml(transcript_delta)}</transcript_delta>")
    parts.append("</realtime_delegation>")
    return "\n".join(parts)


_DELEGATION_INPUT: Final = re.compile(
    r"\A<realtime_delegation>\n  <input>(.*?)</input>\n.*</realtime_delegation>\Z", re.DOTALL
)


def delegation_input(text: str) -> str:
    """The person's words in a :func:`wrap_delegation` block (unescaped); else ``text``.

    For a UI: it shows what was asked, never the markup or the transcript around it.
    """
    match = _DELEGATION_INPUT.match(text)
    if match is None:
        return text
    return match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def delegation_text(event: HandoffRequested) -> str | None:
    """The text routed to the background agent for ``event``; None if there is nothing to say."""
    text = handoff_request_text(event)
    if text is None:
        return None
    return wrap_delegation(text, _transcript_lines(event.active_transcript))


# --- output truncation -------------------------------------------------------------------


def _truncation_marker(dropped_chars: int) -> str:
    tokens = -(-dropped_chars // 4)  # ceil: ~4 characters per token
    return f"\n[... {tokens} tokens truncated ...]"


def truncate_output(text: str, limit: int = HANDOFF_OUTPUT_LIMIT) -> str:
    """Keep the head of ``text`` so the result, marker included, has at most ``limit`` chars."""
    if len(text) <= limit:
        return text
    # Size the head with the longest marker possible, then render the real (shorter) one.
    head_len = max(0, limit - len(_truncation_marker(len(text))))
    return text[:head_len] + _truncation_marker(len(text) - head_len)

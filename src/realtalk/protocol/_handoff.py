"""Handoff to the background agent: delegation text and per-conversation handoff state.

Pure code (no I/O, no asyncio). :class:`HandoffState` decides *what to send*; the
caller sends the returned :data:`HandoffAction` values in order and feeds every
:class:`RequestCreate` into the ``response.create`` queue (v2 only).

The handoff life cycle is one table per version, :data:`HANDOFF_TRANSITIONS`, each keyed
by ``(phase, input)``::

    IDLE --requested--> ACTIVE --output--> ACTIVE_WITH_OUTPUT --complete--> IDLE
                          |                                   (v2: completion ack)
                          +--complete--> IDLE (nothing was said: nothing is sent)

A second ``background_agent`` call while a handoff is active is a steering request
in v2 (acknowledged, the active id is kept) and replaces the active id in v1.

A handoff carried over to a new realtime session (:meth:`HandoffState.adopt`) has no
call to answer there: its updates go as ``[BACKEND] `` items (v1 too), and its
completion asks for a response if it said anything (instead of a function call output).
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from typing import Any, Final

from realtalk.protocol._codec import (
    BACKEND_PREFIX,
    backend_text_item,
    function_call_output,
    handoff_append,
    prefix_text,
)
from realtalk.protocol._events import HandoffRequested, NoopRequested, TranscriptEntry, Version
from realtalk.protocol._table import StateTable

__all__ = [
    "AGENT_FINAL_MESSAGE_LABEL",
    "COMPLETION_ACK",
    "HANDOFF_OUTPUT_LIMIT",
    "HANDOFF_TRANSITIONS",
    "STEERING_ACK",
    "HandoffAction",
    "HandoffEffect",
    "HandoffInput",
    "HandoffPhase",
    "HandoffState",
    "RequestCreate",
    "SendMessage",
    "delegation_input",
    "delegation_text",
    "handoff_request_text",
    "truncate_output",
    "wrap_delegation",
]

logger = logging.getLogger(__name__)

STEERING_ACK: Final = "This was sent to steer the previous background agent task."
COMPLETION_ACK: Final = (
    "Background agent finished. Use the preceding [BACKEND] messages as the result."
)
AGENT_FINAL_MESSAGE_LABEL: Final = '"Agent Final Message":\n\n'
HANDOFF_OUTPUT_LIMIT: Final = 4000
"""Most characters one forwarded agent message may have on the wire (~1,000 tokens)."""

_FAILURE_TEMPLATE: Final = "The background agent failed: {message}"


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


# --- actions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send this client message (a JSON object of reference 2.3) to the realtime server."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestCreate:
    """Ask the model to respond: feed into ``ResponseCreateQueue.request_create(reason)``."""

    reason: str


HandoffAction = SendMessage | RequestCreate


# --- the handoff table -------------------------------------------------------------------


class HandoffPhase(enum.Enum):
    IDLE = "idle"
    ACTIVE = "active"
    ACTIVE_WITH_OUTPUT = "active_with_output"


class HandoffInput(enum.Enum):
    REQUESTED = "requested"  # a handoff request (v1 event / v2 background_agent call)
    OUTPUT = "output"  # the agent produced an assistant message
    COMPLETE = "complete"  # the agent's task ended (complete or failed)


class HandoffEffect(enum.Enum):
    ACTIVATE = "activate"  # remember the request's id as the active handoff
    STEER_ACK = "steer_ack"  # v2: acknowledge the new call as steering, keep the old id
    EMIT_PROGRESS = "emit_progress"  # forward the message as progress
    DROP = "drop"  # no active handoff: the message goes nowhere
    COMPLETION_ACK = "completion_ack"  # v2: close the call with the completion text
    CLEAR = "clear"  # forget the handoff; nothing is sent


def _table(version: Version) -> StateTable[HandoffPhase, HandoffInput, HandoffEffect]:
    idle, active, with_output = (
        HandoffPhase.IDLE,
        HandoffPhase.ACTIVE,
        HandoffPhase.ACTIVE_WITH_OUTPUT,
    )
    req, out, done = HandoffInput.REQUESTED, HandoffInput.OUTPUT, HandoffInput.COMPLETE
    e = HandoffEffect
    # A second request: v1 overwrites the id; v2 treats it as steering.
    again = e.ACTIVATE if version is Version.V1 else e.STEER_ACK
    # Completion after output: only v2 closes the function call (v1 has no call to close).
    finish = e.CLEAR if version is Version.V1 else e.COMPLETION_ACK
    steps = {
        (idle, req): (active, e.ACTIVATE),
        (active, req): (active, again),
        (with_output, req): (with_output, again),
        (idle, out): (idle, e.DROP),
        (active, out): (with_output, e.EMIT_PROGRESS),
        (with_output, out): (with_output, e.EMIT_PROGRESS),
        (idle, done): (idle, e.CLEAR),
        (active, done): (idle, e.CLEAR),  # empty-output rule: say nothing
        (with_output, done): (idle, finish),
    }
    return StateTable(f"{version.value} handoff", HandoffPhase, HandoffInput, steps)


HANDOFF_TRANSITIONS: Final = {version: _table(version) for version in Version}
"""One table per version: ``(phase, input) -> (next phase, effect)``; every pair is defined."""


class HandoffState:
    """The handoff state of one conversation (active handoff id and last output).

    Agent events must be applied in the order the agent produced them: a message that
    arrives after the completion of its task finds no active handoff and is dropped.
    """

    __slots__ = ("_active_id", "_adopted", "_last_output", "_phase", "_table", "_version")

    def __init__(self, version: Version) -> None:
        self._version = version
        self._table = HANDOFF_TRANSITIONS[version]
        self._phase = HandoffPhase.IDLE
        self._active_id: str | None = None
        self._last_output: str | None = None
        self._adopted = False  # a task of an earlier session: no call to answer here

    def adopt(self, phase: HandoffPhase) -> None:
        """Carry over a task still running from an earlier session (``phase``: its phase)."""
        self._phase = phase
        self._active_id = None
        self._adopted = phase is not HandoffPhase.IDLE

    @property
    def adopted(self) -> bool:
        """A task of an earlier session is running (its call does not exist here)."""
        return self._adopted

    @property
    def version(self) -> Version:
        return self._version

    @property
    def phase(self) -> HandoffPhase:
        return self._phase

    @property
    def active(self) -> bool:
        """True while a delegated task is running (the agent is working for the model)."""
        return self._phase is not HandoffPhase.IDLE

    @property
    def active_handoff_id(self) -> str | None:
        return self._active_id

    @property
    def last_output_text(self) -> str | None:
        return self._last_output

    def _step(self, handoff_input: HandoffInput) -> HandoffEffect:
        self._phase, effect = self._table.step(self._phase, handoff_input)
        return effect

    # -- realtime side --

    def on_handoff_requested(self, event: HandoffRequested) -> list[HandoffAction]:
        """Record a handoff request; v2 steering requests are acknowledged at once."""
        effect = self._step(HandoffInput.REQUESTED)
        if effect is HandoffEffect.ACTIVATE:
            self._active_id = event.handoff_id
            self._adopted = False
            return []
        logger.info(
            "background agent call steers the active handoff",
            extra={"handoff_id": self._active_id, "call_id": event.handoff_id},
        )
        return [
            SendMessage(function_call_output(event.handoff_id, STEERING_ACK)),
            RequestCreate("handoff steering"),
        ]

    def on_noop(self, event: NoopRequested) -> list[HandoffAction]:
        """Close a ``remain_silent`` call with an empty output; no response is requested."""
        return [SendMessage(function_call_output(event.call_id, ""))]

    # -- agent side --

    def agent_message(self, text: str) -> list[HandoffAction]:
        """What to send for one assistant message of the agent (nothing: no active handoff).

        v2: a ``[BACKEND] `` user message; v1: ``conversation.handoff.append`` with the
        "Agent Final Message" label. Either way at most :data:`HANDOFF_OUTPUT_LIMIT`
        characters go on the wire.
        """
        if not text.strip():
            logger.debug("empty background agent message dropped")
            return []
        effect = self._step(HandoffInput.OUTPUT)
        if effect is HandoffEffect.DROP or (self._active_id is None and not self._adopted):
            logger.debug("background agent message dropped: no active handoff")
            return []
        if self._version is Version.V2 or self._active_id is None:  # v2, or adopted
            text = truncate_output(prefix_text(text, BACKEND_PREFIX))
            self._last_output = text
            return [SendMessage(backend_text_item(text))]
        # v1 adds the label on the wire; keep the whole output_text within the limit.
        text = truncate_output(text, HANDOFF_OUTPUT_LIMIT - len(AGENT_FINAL_MESSAGE_LABEL))
        self._last_output = text
        return [SendMessage(handoff_append(self._active_id, AGENT_FINAL_MESSAGE_LABEL + text))]

    def agent_complete(self) -> list[HandoffAction]:
        """The agent's task ended: v2 closes the call if anything was said; then clear.

        An adopted task (no call here) asks for a response if it said anything.
        """
        active_id = self._active_id
        said = self._phase is HandoffPhase.ACTIVE_WITH_OUTPUT
        effect = self._step(HandoffInput.COMPLETE)
        self._active_id = None
        self._last_output = None
        if self._adopted:
            self._adopted = False
            return [RequestCreate("adopted handoff")] if said else []
        if effect is HandoffEffect.COMPLETION_ACK and active_id is not None:
            return [
                SendMessage(function_call_output(active_id, COMPLETION_ACK)),
                RequestCreate("handoff"),
            ]
        return []

    def agent_failed(self, message: str) -> list[HandoffAction]:
        """The agent's task failed: say so (as an agent message), then complete."""
        if self._active_id is None:
            logger.warning(
                "background agent failed with no active handoff",
                extra={"agent_error": message},
            )
        text = _FAILURE_TEMPLATE.format(message=message.strip() or "unknown error")
        return [*self.agent_message(text), *self.agent_complete()]

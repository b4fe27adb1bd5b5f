"""Handoff to the background agent: the per-conversation handoff state (the delegation
text and the output limit are in :mod:`._delegation`).

Pure code (no I/O, no asyncio). :class:`HandoffState` decides *what to send*; the
caller sends the returned :data:`HandoffAction` values in order and feeds every
:class:`RequestCreate` into the ``response.create`` queue (v2 only).

The handoff life cycle is one table per version, :data:`HANDOFF_TRANSITIONS`, each keyed
by ``(phase, input)``::

    IDLE --requested--> ACTIVE --output--> ACTIVE_WITH_OUTPUT --complete--> IDLE
                          |                                   (v2: completion ack)
                          +--complete--> IDLE (nothing was said: nothing is sent)
    ACTIVE / ACTIVE_WITH_OUTPUT --cancel--> IDLE (the cancellation is answered at once)

A second ``background_agent`` call while a handoff is active is a steering request
in v2 (acknowledged, the active id is kept) and replaces the active id in v1.

Cancelling (realtalk's extension, not in the reference): the user asks to stop the
running task (the model's ``cancel_background_agent`` call, a key, an app-server
method). The handoff is answered at once — v2 closes the ``background_agent`` call
with :data:`CANCELLED_OUTPUT` (and a model's cancel call with :data:`CANCEL_ACK`) and
asks for a response; v1 appends :data:`CANCELLED_SPEECH` — and the caller stops the
agent. The cancelled task still ends later (its ``TaskFailed`` or, if it finished
meanwhile, ``TaskComplete``): agent events are applied in agent order, so its
messages and its end, which come before any later task's, are dropped (a count of
*stale ends*, one per cancelled task).

A handoff carried over to a new realtime session (:meth:`HandoffState.adopt`) has no
call to answer there: its updates go as ``[BACKEND] `` items (v1 too), and its
completion asks for a response if it said anything (instead of a function call output).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any, Final

from realtalk.protocol._codec import (
    BACKEND_PREFIX,
    backend_text_item,
    function_call_output,
    handoff_append,
    prefix_text,
)
from realtalk.protocol._delegation import HANDOFF_OUTPUT_LIMIT, truncate_output
from realtalk.protocol._events import HandoffRequested, NoopRequested, Version
from realtalk.protocol._table import StateTable

__all__ = [
    "AGENT_FINAL_MESSAGE_LABEL",
    "CANCELLED_OUTPUT",
    "CANCELLED_SPEECH",
    "CANCEL_ACK",
    "COMPLETION_ACK",
    "NOTHING_TO_CANCEL",
    "HANDOFF_TRANSITIONS",
    "STEERING_ACK",
    "HandoffAction",
    "HandoffEffect",
    "HandoffInput",
    "HandoffPhase",
    "HandoffState",
    "RequestCreate",
    "SendMessage",
]

logger = logging.getLogger(__name__)

STEERING_ACK: Final = "This was sent to steer the previous background agent task."
COMPLETION_ACK: Final = (
    "Background agent finished. Use the preceding [BACKEND] messages as the result."
)
AGENT_FINAL_MESSAGE_LABEL: Final = '"Agent Final Message":\n\n'
# Ours (cancelling is not in the reference).
CANCELLED_OUTPUT: Final = (
    "Cancelled: the user stopped this background agent task before it finished; "
    "its result is discarded."
)
"""v2: the output of the cancelled ``background_agent`` call."""
CANCEL_ACK: Final = "The background agent task was cancelled."
"""v2: the output of the model's ``cancel_background_agent`` call that stopped a task."""
NOTHING_TO_CANCEL: Final = "No background agent task was running; nothing was cancelled."
"""v2: the output of a ``cancel_background_agent`` call with no task running."""
CANCELLED_SPEECH: Final = "The background agent task was cancelled."
"""v1: the ``conversation.handoff.append`` text of a cancelled handoff (spoken)."""

_FAILURE_TEMPLATE: Final = "The background agent failed: {message}"


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
    CANCEL = "cancel"  # the user cancelled the running task (realtalk's extension)


class HandoffEffect(enum.Enum):
    ACTIVATE = "activate"  # remember the request's id as the active handoff
    STEER_ACK = "steer_ack"  # v2: acknowledge the new call as steering, keep the old id
    EMIT_PROGRESS = "emit_progress"  # forward the message as progress
    DROP = "drop"  # no active handoff: the message goes nowhere
    COMPLETION_ACK = "completion_ack"  # v2: close the call with the completion text
    CLEAR = "clear"  # forget the handoff; nothing is sent
    CANCEL = "cancel"  # answer the handoff as cancelled; the caller stops the agent
    NOT_RUNNING = "not_running"  # nothing to cancel


def _table(version: Version) -> StateTable[HandoffPhase, HandoffInput, HandoffEffect]:
    idle, active, with_output = (
        HandoffPhase.IDLE,
        HandoffPhase.ACTIVE,
        HandoffPhase.ACTIVE_WITH_OUTPUT,
    )
    req, out, done = HandoffInput.REQUESTED, HandoffInput.OUTPUT, HandoffInput.COMPLETE
    cancel = HandoffInput.CANCEL
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
        (idle, cancel): (idle, e.NOT_RUNNING),
        (active, cancel): (idle, e.CANCEL),
        (with_output, cancel): (idle, e.CANCEL),
    }
    return StateTable(f"{version.value} handoff", HandoffPhase, HandoffInput, steps)


HANDOFF_TRANSITIONS: Final = {version: _table(version) for version in Version}
"""One table per version: ``(phase, input) -> (next phase, effect)``; every pair is defined."""


class HandoffState:
    """The handoff state of one conversation (active handoff id and last output).

    Agent events must be applied in the order the agent produced them: a message that
    arrives after the completion of its task finds no active handoff and is dropped.
    """

    __slots__ = (
        "_active_id",
        "_adopted",
        "_last_output",
        "_phase",
        "_stale",
        "_table",
        "_version",
    )

    def __init__(self, version: Version) -> None:
        self._version = version
        self._table = HANDOFF_TRANSITIONS[version]
        self._phase = HandoffPhase.IDLE
        self._active_id: str | None = None
        self._last_output: str | None = None
        self._stale = 0  # cancelled tasks whose end has not arrived yet
        self._adopted = False  # a task of an earlier session: no call to answer here

    @property
    def stale_ends(self) -> int:
        """Cancelled tasks whose end (and so whose trailing events) is still to come."""
        return self._stale

    def adopt(self, phase: HandoffPhase, stale_ends: int = 0) -> None:
        """Carry over a task still running from an earlier session (``phase``: its phase),
        and the ends still to come of tasks cancelled there (``stale_ends``)."""
        self._phase = phase
        self._active_id = None
        self._adopted = phase is not HandoffPhase.IDLE
        self._stale = stale_ends

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

    def cancel(self, call_id: str | None = None) -> tuple[bool, list[HandoffAction]]:
        """The user cancels the running task; True if one was running.

        ``call_id``: the model's ``cancel_background_agent`` call, answered too (v2).
        The caller stops the agent when True; that task's end is then stale.
        """
        known = self._active_id is not None or self._adopted
        cancelled = self._step(HandoffInput.CANCEL) is HandoffEffect.CANCEL and known
        actions: list[HandoffAction] = []
        if cancelled:
            logger.info("background agent task cancelled", extra={"handoff_id": self._active_id})
            self._stale += 1
            actions = self._cancelled()
        if call_id is not None and self._version is Version.V2:
            ack = CANCEL_ACK if cancelled else NOTHING_TO_CANCEL
            actions.append(SendMessage(function_call_output(call_id, ack)))
        if actions and (self._version is Version.V2 or not self._has_call(actions)):
            actions.append(RequestCreate("handoff cancelled"))
        return cancelled, actions

    @staticmethod
    def _has_call(actions: list[HandoffAction]) -> bool:
        """v1: a spoken append is its own answer (no response.create)."""
        return any(
            isinstance(a, SendMessage) and a.message["type"] == "conversation.handoff.append"
            for a in actions
        )

    def _cancelled(self) -> list[HandoffAction]:
        """Answer the handoff as cancelled and forget it (an adopted one: a note)."""
        active_id = self._active_id
        self._active_id = None
        self._last_output = None
        self._adopted = False
        if active_id is None:  # a task of an earlier session: no call to answer here
            return [SendMessage(backend_text_item(prefix_text(CANCELLED_OUTPUT, BACKEND_PREFIX)))]
        if self._version is Version.V2:
            return [SendMessage(function_call_output(active_id, CANCELLED_OUTPUT))]
        return [SendMessage(handoff_append(active_id, CANCELLED_SPEECH))]

    # -- agent side --

    def agent_stopped(self) -> list[HandoffAction]:
        """The agent's task was interrupted (it ended with ``INTERRUPTED_MESSAGE``).

        The end of a task cancelled here is dropped; a task stopped from elsewhere (an
        app-server ``turn/interrupt``) cancels its handoff as if the user had.
        """
        if self._stale:
            self._stale -= 1
            return []
        known = self._active_id is not None or self._adopted
        if self._step(HandoffInput.CANCEL) is HandoffEffect.CANCEL and known:
            logger.info(
                "background agent task was interrupted", extra={"handoff_id": self._active_id}
            )
            actions = self._cancelled()
            if not self._has_call(actions):
                actions.append(RequestCreate("handoff cancelled"))
            return actions
        return []

    def agent_message(self, text: str) -> list[HandoffAction]:
        """What to send for one assistant message of the agent (nothing: no active handoff).

        v2: a ``[BACKEND] `` user message; v1: ``conversation.handoff.append`` with the
        "Agent Final Message" label. Either way at most :data:`HANDOFF_OUTPUT_LIMIT`
        characters go on the wire.
        """
        if not text.strip():
            logger.debug("empty background agent message dropped")
            return []
        if self._stale:
            logger.debug("message of a cancelled background agent task dropped")
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
        if self._stale:
            self._stale -= 1  # the end of a cancelled task
            return []
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
        if self._stale:
            self._stale -= 1  # the end of a cancelled task
            return []
        if self._active_id is None:
            logger.warning(
                "background agent failed with no active handoff",
                extra={"agent_error": message},
            )
        text = _FAILURE_TEMPLATE.format(message=message.strip() or "unknown error")
        return [*self.agent_message(text), *self.agent_complete()]

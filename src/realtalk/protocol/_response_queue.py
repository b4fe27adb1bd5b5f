"""The v2 ``response.create`` queue (reference 4.5), as an explicit transition table.

The realtime server runs at most one default response per conversation; a
``response.create`` sent while one is active is rejected. So a create is sent at
once only when no response is active; otherwise it is *owed* and sent when the
active response finishes. At most one create is owed at a time (requests coalesce).

Who calls :meth:`ResponseCreateQueue.request_create`: the steering ack and the
handoff completion ack (``RequestCreate`` actions of the handoff state). Never for
user text (append-only: the server's turn detection decides), ``remain_silent``
acks or progress updates. v1 does not use this queue.

Improvements over the reference:

* Responses are correlated by ``response_id``: the id of the active response is
  tracked (from ``response.created``), and a finish event for another id, or a
  second finish for an id that already finished (``done`` after ``cancelled``),
  is ignored, so an owed create is never flushed twice.
* An inbound server ``error`` with code ``conversation_already_has_active_response``
  is not fatal: the create we sent was rejected, so one is owed again and is sent
  at the next ``response.done`` / ``response.cancelled``.

Sending is optimistic: a create sent from ``IDLE`` counts as an active response
at once (before ``response.created`` arrives), so two quick requests produce one
send and one owed create, never two concurrent sends.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from typing import Final, Literal

from realtalk.protocol._table import StateTable

__all__ = [
    "ACTIVE_RESPONSE_ERROR_CODE",
    "ACTIVE_RESPONSE_RACE_PREFIX",
    "RESPONSE_QUEUE_TRANSITIONS",
    "QueueInput",
    "QueueOutput",
    "QueueState",
    "ResponseCreateQueue",
    "is_message_active_response_race",
]

logger = logging.getLogger(__name__)

ACTIVE_RESPONSE_RACE_PREFIX: Final = "Conversation already has an active response in progress:"
ACTIVE_RESPONSE_ERROR_CODE: Final = "conversation_already_has_active_response"

_RECENT_FINISHED_IDS: Final = 32


def is_message_active_response_race(message: str) -> bool:
    """True if a send failure means "a response is already active" (defer, don't fail)."""
    return message.startswith(ACTIVE_RESPONSE_RACE_PREFIX)


class QueueState(enum.Enum):
    IDLE = "idle"  # no response active, nothing owed
    ACTIVE = "active"  # a response is active (possibly the one we just asked for)
    ACTIVE_PENDING = "active_pending"  # a response is active and we owe one create


class QueueInput(enum.Enum):
    REQUEST_CREATE = "request_create"
    SEND_OK = "send_ok"
    SEND_RACED = "send_raced"  # send failed: "Conversation already has an active response…"
    SERVER_CREATED = "server_created"
    SERVER_DONE = "server_done"  # for the active response (correlated by the queue)
    SERVER_CANCELLED = "server_cancelled"  # for the active response
    SERVER_ACTIVE_RESPONSE_ERROR = "server_active_response_error"


class QueueOutput(enum.Enum):
    SEND_CREATE = "send_create"  # send {"type": "response.create"} now


_S, _I, _O = QueueState, QueueInput, QueueOutput
_SEND: Final = (_O.SEND_CREATE,)

_STEPS: Final[dict[tuple[QueueState, QueueInput], tuple[QueueState, tuple[QueueOutput, ...]]]] = {
    (_S.IDLE, _I.REQUEST_CREATE): (_S.ACTIVE, _SEND),
    (_S.ACTIVE, _I.REQUEST_CREATE): (_S.ACTIVE_PENDING, ()),
    (_S.ACTIVE_PENDING, _I.REQUEST_CREATE): (_S.ACTIVE_PENDING, ()),  # coalesce
    # The state already moved when the create was sent; success only confirms it.
    (_S.IDLE, _I.SEND_OK): (_S.IDLE, ()),
    (_S.ACTIVE, _I.SEND_OK): (_S.ACTIVE, ()),
    (_S.ACTIVE_PENDING, _I.SEND_OK): (_S.ACTIVE_PENDING, ()),
    # A rejected create is still owed; the server says a response is active, believe it.
    (_S.IDLE, _I.SEND_RACED): (_S.ACTIVE_PENDING, ()),
    (_S.ACTIVE, _I.SEND_RACED): (_S.ACTIVE_PENDING, ()),
    (_S.ACTIVE_PENDING, _I.SEND_RACED): (_S.ACTIVE_PENDING, ()),
    (_S.IDLE, _I.SERVER_CREATED): (_S.ACTIVE, ()),
    (_S.ACTIVE, _I.SERVER_CREATED): (_S.ACTIVE, ()),
    (_S.ACTIVE_PENDING, _I.SERVER_CREATED): (_S.ACTIVE_PENDING, ()),
    (_S.IDLE, _I.SERVER_DONE): (_S.IDLE, ()),
    (_S.ACTIVE, _I.SERVER_DONE): (_S.IDLE, ()),
    (_S.ACTIVE_PENDING, _I.SERVER_DONE): (_S.ACTIVE, _SEND),  # flush the owed create
    (_S.IDLE, _I.SERVER_CANCELLED): (_S.IDLE, ()),
    (_S.ACTIVE, _I.SERVER_CANCELLED): (_S.IDLE, ()),
    (_S.ACTIVE_PENDING, _I.SERVER_CANCELLED): (_S.ACTIVE, _SEND),
    # Same as a raced send, but reported by the server as an inbound `error` event.
    (_S.IDLE, _I.SERVER_ACTIVE_RESPONSE_ERROR): (_S.ACTIVE_PENDING, ()),
    (_S.ACTIVE, _I.SERVER_ACTIVE_RESPONSE_ERROR): (_S.ACTIVE_PENDING, ()),
    (_S.ACTIVE_PENDING, _I.SERVER_ACTIVE_RESPONSE_ERROR): (_S.ACTIVE_PENDING, ()),
}

RESPONSE_QUEUE_TRANSITIONS: Final = StateTable("response.create queue", _S, _I, _STEPS)
"""``(state, input) -> (next state, outputs)``; every pair is defined. No transition
sends a create in reaction to a rejection, so a misbehaving server cannot make the
queue loop; owed creates are only flushed by a finish event."""


class ResponseCreateQueue:
    """Decides when to send ``response.create`` (one instance per v2 conversation).

    Methods returning ``bool`` return True when the caller must send
    ``{"type": "response.create"}`` now, and must then report the outcome with
    :meth:`on_send_result`.
    """

    def __init__(self) -> None:
        self._state = QueueState.IDLE
        self._active_id: str | None = None
        self._pending_reason: str | None = None
        self._finished: deque[str] = deque(maxlen=_RECENT_FINISHED_IDS)

    @property
    def state(self) -> QueueState:
        return self._state

    @property
    def active_response_id(self) -> str | None:
        """The id of the active response, once ``response.created`` told us."""
        return self._active_id

    @property
    def pending(self) -> bool:
        """True while a create is owed."""
        return self._state is QueueState.ACTIVE_PENDING

    def _step(self, queue_input: QueueInput) -> bool:
        self._state, outputs = RESPONSE_QUEUE_TRANSITIONS.step(self._state, queue_input)
        if QueueOutput.SEND_CREATE in outputs:
            # The create we are about to send has no id until `response.created`.
            self._active_id = None
            return True
        if self._state is QueueState.IDLE:
            self._active_id = None
        return False

    def request_create(self, reason: str) -> bool:
        """Ask for a model response; True = send now, False = owed (sent later)."""
        send = self._step(QueueInput.REQUEST_CREATE)
        if send:
            logger.debug("sending response.create", extra={"reason": reason})
        else:
            self._pending_reason = reason
            logger.debug("response.create deferred: a response is active", extra={"reason": reason})
        return send

    def on_send_result(self, error_message: str | None = None) -> bool:
        """Report how sending a create went (``None`` = success).

        Returns True if the outcome is handled here (success, or the "active
        response" race, which becomes an owed create). False means a real send
        failure: the caller reports it and stops the conversation.
        """
        if error_message is None:
            self._step(QueueInput.SEND_OK)
            return True
        if is_message_active_response_race(error_message):
            logger.warning("response.create raced an active response; deferring")
            self._pending_reason = self._pending_reason or "raced"
            self._step(QueueInput.SEND_RACED)
            return True
        logger.warning("failed to send response.create", extra={"error": error_message})
        return False

    def on_response_created(self, response_id: str | None) -> None:
        """Server ``response.created``: a response is active."""
        self._step(QueueInput.SERVER_CREATED)
        self._active_id = response_id

    def on_response_finished(
        self, response_id: str | None, kind: Literal["done", "cancelled"]
    ) -> bool:
        """Server ``response.done`` / ``response.cancelled``; True = send the owed create now.

        Ignored (returns False) when it is the second finish of a response, or the
        finish of a response other than the tracked active one. Without ids the
        queue cannot correlate and trusts the event (the reference behaviour).
        """
        if response_id is not None:
            if response_id in self._finished:
                logger.debug(
                    "duplicate response finish ignored",
                    extra={"response_id": response_id, "finish": kind},
                )
                return False
            self._finished.append(response_id)
            if self._active_id is not None and response_id != self._active_id:
                logger.debug(
                    "finish of a non-active response ignored",
                    extra={"response_id": response_id, "active_response_id": self._active_id},
                )
                return False
        queue_input = QueueInput.SERVER_DONE if kind == "done" else QueueInput.SERVER_CANCELLED
        send = self._step(queue_input)
        if send:
            logger.debug("sending deferred response.create", extra={"reason": self._pending_reason})
            self._pending_reason = None
        return send

    def on_active_response_error(self) -> None:
        """Server ``error`` with code ``conversation_already_has_active_response``.

        The create we sent was rejected, so one is owed again; it is sent at the
        next finish. Not fatal: the conversation keeps running.
        """
        logger.warning("server rejected response.create: a response is active; deferring")
        self._pending_reason = self._pending_reason or "rejected"
        self._step(QueueInput.SERVER_ACTIVE_RESPONSE_ERROR)

"""The background agent's approval questions in a voice conversation (pure).

realtalk's extension, not in the reference (whose realtime handoff only plans a fixed
"I need your approval…" notice). The agent asks (``May I run `pip install requests`?
It needs the network.``); the realtime model says it; the user's yes/no comes back as
the model's ``answer_approval`` call (v2) and goes to the agent.

:class:`QuestionState` decides *what to send*; the caller sends the returned
``SendMessage`` values in order, feeds every ``RequestCreate`` into the
``response.create`` queue, and hands an :class:`ApprovalAnswer` to the agent. One
question waits at a time (the agent runs its tools one after another); its life cycle
is :data:`QUESTION_TRANSITIONS`, keyed by ``(phase, input)``:

============  ===============  ===========  =========================================
phase         input            next phase   effect (what is sent)
============  ===============  ===========  =========================================
NONE          asked            WAITING      SPEAK: the question (v2: a ``[BACKEND] ``
                                            item + response; v1: a spoken append)
WAITING       asked            WAITING      SPEAK: a newer question replaces the old
NONE          answered         NONE         NOT_PENDING: the call is told nothing
                                            waits (a late answer) + response
WAITING       answered         NONE         FORWARD: the answer goes to the agent;
                                            the call is acknowledged + response
any           answered_other   same         NOT_PENDING: an answer naming another
                                            (old) request id changes nothing
any           unclear          same         UNCLEAR: ``approved`` was not a boolean;
                                            the call says ask again + response
NONE          resolved         NONE         IGNORE (we answered it ourselves)
WAITING       resolved         NONE         CLOSED: answered elsewhere or timed out;
                                            the model is told + response
NONE          ended            NONE         IGNORE
WAITING       ended            NONE         FORGET: the task ended or was cancelled
                                            (its own answer says so); nothing sent
============  ===============  ===========  =========================================

v1 has no tools: the question is appended to the active handoff (spoken), and the
user's reply reaches the core as the next ``conversation.handoff.requested``: one
whose words are a clear yes or no (:func:`yes_or_no`) answers the question (acked
with a spoken append on that handoff) instead of steering the task; anything else is
an ordinary handoff and the question keeps waiting.

A conversation continued on a new session keeps its waiting question (the snapshot
carries it; the replayed history has the question), so an ``answer_approval`` call in
the new session answers it.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from typing import Final

from realtalk.protocol._codec import backend_text_item, function_call_output, handoff_append
from realtalk.protocol._events import AnswerApprovalRequested, Version
from realtalk.protocol._handoff import HandoffAction, RequestCreate, SendMessage
from realtalk.protocol._table import StateTable

__all__ = [
    "APPROVED_OUTPUT",
    "DECLINED_OUTPUT",
    "NOT_PENDING_OUTPUT",
    "QUESTION_TRANSITIONS",
    "UNCLEAR_OUTPUT",
    "ApprovalAnswer",
    "PendingQuestion",
    "QuestionEffect",
    "QuestionInput",
    "QuestionPhase",
    "QuestionState",
    "question_text",
    "yes_or_no",
]

logger = logging.getLogger(__name__)

# Ours: what the model is told (prose, not wire constants of the reference).
_QUESTION: Final = (
    "The background agent asks for approval (request_id {id}): {question}\n"
    "Ask the user exactly this question, then call answer_approval with their yes or no."
)
APPROVED_OUTPUT: Final = "Approved: the background agent goes ahead."
DECLINED_OUTPUT: Final = "Declined: the background agent will not do it."
NOT_PENDING_OUTPUT: Final = (
    "No approval question is waiting for that answer (it was already answered, timed out, "
    "or its task ended); nothing was changed."
)
UNCLEAR_OUTPUT: Final = (
    "answer_approval needs approved: true (the user said yes) or false (the user said no). "
    "The question is still waiting; ask the user again."
)
_CLOSED: Final = (
    "The approval question (request_id {id}) is no longer waiting: it was {decision} "
    "without the user's answer (it timed out or was answered elsewhere)."
)
_V1_ACK: Final = {True: "Okay, approved.", False: "Okay, declined."}


class QuestionPhase(enum.Enum):
    NONE = "none"
    WAITING = "waiting"


class QuestionInput(enum.Enum):
    ASKED = "asked"  # the agent asks a question
    ANSWERED = "answered"  # the user's yes/no for the waiting question
    ANSWERED_OTHER = "answered_other"  # an answer naming another request id
    UNCLEAR = "unclear"  # an answer_approval call without a boolean
    RESOLVED = "resolved"  # the agent says the question was answered (by anyone)
    ENDED = "ended"  # the agent's task ended, failed or was cancelled


class QuestionEffect(enum.Enum):
    SPEAK = "speak"
    FORWARD = "forward"
    NOT_PENDING = "not_pending"
    UNCLEAR = "unclear"
    CLOSED = "closed"
    FORGET = "forget"
    IGNORE = "ignore"


def _table() -> StateTable[QuestionPhase, QuestionInput, QuestionEffect]:
    none, waiting = QuestionPhase.NONE, QuestionPhase.WAITING
    i, e = QuestionInput, QuestionEffect
    steps = {
        (none, i.ASKED): (waiting, e.SPEAK),
        (waiting, i.ASKED): (waiting, e.SPEAK),
        (none, i.ANSWERED): (none, e.NOT_PENDING),
        (waiting, i.ANSWERED): (none, e.FORWARD),
        (none, i.ANSWERED_OTHER): (none, e.NOT_PENDING),
        (waiting, i.ANSWERED_OTHER): (waiting, e.NOT_PENDING),
        (none, i.UNCLEAR): (none, e.UNCLEAR),
        (waiting, i.UNCLEAR): (waiting, e.UNCLEAR),
        (none, i.RESOLVED): (none, e.IGNORE),
        (waiting, i.RESOLVED): (none, e.CLOSED),
        (none, i.ENDED): (none, e.IGNORE),
        (waiting, i.ENDED): (none, e.FORGET),
    }
    return StateTable("approval question", QuestionPhase, QuestionInput, steps)


QUESTION_TRANSITIONS: Final = _table()
"""``(phase, input) -> (next phase, effect)``; every pair is defined."""


@dataclass(frozen=True, slots=True)
class PendingQuestion:
    """The question waiting for the user's answer."""

    request_id: str
    question: str


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    """Hand the user's answer to the agent's question ``request_id`` to the agent."""

    request_id: str
    approved: bool


def question_text(request_id: str, question: str) -> str:
    """What the v2 model is told (after ``[BACKEND] ``) when the agent asks."""
    return _QUESTION.format(id=request_id, question=question)


_YES: Final = re.compile(
    r"^(yes|yeah|yep|sure|ok|okay|go ahead|do it|please do|approve|approved|allow it"
    r"|fine|alright|all right)\b"
)
_NO: Final = re.compile(
    r"^(no|nope|don'?t|do not|deny|denied|decline|declined|never|not now|stop)\b"
)


def yes_or_no(text: str) -> bool | None:
    """True for a clear yes ("yes please", "go ahead", "sure"), False for a clear no
    ("no", "don't"), None otherwise (v1: then it is an ordinary request)."""
    words = " ".join(text.lower().replace(",", " ").replace(".", " ").split())
    words = words.removeprefix("agent ").strip()
    if _NO.match(words):
        return False
    if _YES.match(words):
        return True
    return None


class QuestionState:
    """The waiting approval question of one conversation (see the module docstring)."""

    __slots__ = ("_pending", "_phase", "_version")

    def __init__(self, version: Version) -> None:
        self._version = version
        self._phase = QuestionPhase.NONE
        self._pending: PendingQuestion | None = None

    @property
    def phase(self) -> QuestionPhase:
        return self._phase

    @property
    def pending(self) -> PendingQuestion | None:
        """The question waiting for an answer (None: none)."""
        return self._pending

    def adopt(self, pending: PendingQuestion | None) -> None:
        """Carry a waiting question over from an earlier session (nothing is sent)."""
        self._pending = pending
        self._phase = QuestionPhase.NONE if pending is None else QuestionPhase.WAITING

    def _step(self, question_input: QuestionInput) -> QuestionEffect:
        self._phase, effect = QUESTION_TRANSITIONS.step(self._phase, question_input)
        if self._phase is QuestionPhase.NONE:
            self._pending = None
        return effect

    def asked(self, request_id: str, question: str, handoff_id: str | None) -> list[HandoffAction]:
        """The agent asks; ``handoff_id``: v1's active handoff (the question is spoken on it)."""
        self._step(QuestionInput.ASKED)
        self._pending = PendingQuestion(request_id, question)
        logger.info(
            "the agent's approval question is put to the user", extra={"approval_id": request_id}
        )
        if self._version is Version.V1 and handoff_id is not None:
            return [SendMessage(handoff_append(handoff_id, question))]
        return [
            SendMessage(backend_text_item(question_text(request_id, question))),
            RequestCreate("approval question"),
        ]

    def answered(
        self, event: AnswerApprovalRequested
    ) -> tuple[ApprovalAnswer | None, list[HandoffAction]]:
        """The model's ``answer_approval`` call: what goes to the agent, what is sent."""
        pending = self._pending
        if event.approved is None:
            question_input = QuestionInput.UNCLEAR
        elif pending is not None and event.request_id not in (None, pending.request_id):
            question_input = QuestionInput.ANSWERED_OTHER
        else:
            question_input = QuestionInput.ANSWERED
        effect = self._step(question_input)
        answer: ApprovalAnswer | None = None
        if effect is QuestionEffect.FORWARD and pending is not None and event.approved is not None:
            answer = ApprovalAnswer(pending.request_id, event.approved)
            output = APPROVED_OUTPUT if event.approved else DECLINED_OUTPUT
        elif effect is QuestionEffect.UNCLEAR:
            output = UNCLEAR_OUTPUT
        else:
            logger.info(
                "answer_approval with no question waiting for it",
                extra={"approval_id": event.request_id},
            )
            output = NOT_PENDING_OUTPUT
        return answer, [
            SendMessage(function_call_output(event.call_id, output)),
            RequestCreate("approval answered"),
        ]

    def answered_by_voice(self, handoff_id: str, *, approved: bool) -> ApprovalAnswer | None:
        """v1: a handoff request whose words are a yes/no answers the waiting question.

        None (nothing happens: an ordinary handoff) when no question waits; else the
        answer, and the caller sends :meth:`v1_ack` (a spoken append on ``handoff_id``).
        """
        pending = self._pending
        if pending is None:
            return None
        self._step(QuestionInput.ANSWERED)
        logger.info("approval answered by voice (v1)", extra={"handoff_id": handoff_id})
        return ApprovalAnswer(pending.request_id, approved)

    @staticmethod
    def v1_ack(handoff_id: str, *, approved: bool) -> SendMessage:
        return SendMessage(handoff_append(handoff_id, _V1_ACK[approved]))

    def resolved(self, request_id: str, *, approved: bool) -> list[HandoffAction]:
        """The agent says ``request_id`` was answered; if it still waited here, someone
        else answered it (or it timed out): the model is told."""
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return []
        if self._step(QuestionInput.RESOLVED) is not QuestionEffect.CLOSED:
            return []
        text = _CLOSED.format(id=request_id, decision="approved" if approved else "declined")
        return [SendMessage(backend_text_item(text)), RequestCreate("approval closed")]

    def ended(self) -> None:
        """The task that asked ended or was cancelled: its question is forgotten."""
        if self._step(QuestionInput.ENDED) is QuestionEffect.FORGET:
            logger.info("the approval question ended with its task")

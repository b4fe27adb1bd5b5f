"""The background agent's side of the conversation core: handoffs, steering, cancel,
approval questions.

Part of :class:`ConversationCore` (pure). :class:`HandoffState` (:mod:`._handoff`)
decides what each step sends (its table, the stale ends of cancelled tasks), and
:class:`QuestionState` (:mod:`._questions`) what the agent's approval questions and
their answers send; this part feeds them the model's tool calls (``background_agent``,
``remain_silent``, ``cancel_background_agent``, ``answer_approval``), the person's
cancel and the agent's messages, questions and end, and carries out what they return:
messages into the outbox (a ``[BACKEND] `` update into the history too, a v1 spoken
append as an answer owed) and response requests into the ``response.create`` queue.
It outputs :class:`Delegate` (hand this text to the agent, *before* the handoff event
is shown), :class:`CancelDelegation` and :class:`ApprovalAnswer` (the user's answer
to the agent's question).
"""

from __future__ import annotations

import logging

from realtalk.protocol._core_state import CancelDelegation, CoreState, Delegate
from realtalk.protocol._delegation import delegation_text
from realtalk.protocol._events import (
    AnswerApprovalRequested,
    CancelRequested,
    HandoffRequested,
    NoopRequested,
)
from realtalk.protocol._handoff import HandoffAction, SendMessage
from realtalk.protocol._questions import PendingQuestion, yes_or_no

__all__ = ["Delegation"]

logger = logging.getLogger(__name__)


class Delegation(CoreState):
    """Handoffs to the background agent and back (see the module docstring)."""

    @property
    def delegating(self) -> bool:
        """A delegated task is running (a handoff is active)."""
        return self._handoff.active

    def cancel_delegation(self) -> bool:
        """The person cancels the running delegation (a key, an app-server request).

        True if one was running: its handoff is answered as cancelled (v2: the
        ``background_agent`` call's output and a response; v1: a spoken append) and
        :class:`CancelDelegation` is output. False (nothing sent) if none was.
        """
        if self.end_reason is not None:
            return False
        cancelled, actions = self._handoff.cancel()
        if cancelled:
            self._questions.ended()
            self._outputs.append(CancelDelegation())
            self._run(actions, "handoff cancellation")
        return cancelled

    # -------------------------------------------------------------- agent side

    @property
    def pending_question(self) -> PendingQuestion | None:
        """The agent's approval question waiting for the user's answer."""
        return self._questions.pending

    def agent_question(self, request_id: str, question: str) -> None:
        """The agent asks the user ``question`` (its request ``request_id``) and waits.

        The model is told to ask it (v2: a ``[BACKEND] `` item and a response; v1: a
        spoken append on the active handoff); its ``answer_approval`` call outputs
        :class:`ApprovalAnswer`. A question of a cancelled task (its end still to come)
        is not asked: that task is being stopped.
        """
        if self.end_reason is not None:
            return
        if self._handoff.stale_ends:
            logger.info("question of a cancelled task dropped", extra={"approval_id": request_id})
            return
        handoff_id = self._handoff.active_handoff_id
        self._run(self._questions.asked(request_id, question, handoff_id), "approval question")

    def agent_question_resolved(self, request_id: str, *, approved: bool) -> None:
        """The agent's question ``request_id`` was answered (by anyone) or timed out."""
        if self.end_reason is None:
            actions = self._questions.resolved(request_id, approved=approved)
            self._run(actions, "approval closed")

    def agent_message(self, text: str) -> None:
        """One assistant message of the background agent, in the agent's order."""
        if self.end_reason is None:
            self._run(self._handoff.agent_message(text), "handoff output")

    def agent_complete(self) -> None:
        """The agent's task ended (v2: completion ack and a response, if it said anything)."""
        if self.end_reason is None:
            self._questions.ended()
            self._run(self._handoff.agent_complete(), "handoff output")

    def agent_failed(self, message: str) -> None:
        """The agent's task failed: the failure is spoken back like an agent message."""
        if self.end_reason is None:
            self._questions.ended()
            self._run(self._handoff.agent_failed(message), "handoff output")

    def agent_stopped(self) -> None:
        """The agent's task was interrupted: the end of a cancelled task, or (stopped
        from elsewhere) a cancellation of its handoff, answered like one."""
        if self.end_reason is None:
            self._questions.ended()
            self._run(self._handoff.agent_stopped(), "handoff cancellation")

    # ---------------------------------------------------- the model's tool calls

    def _on_handoff(self, event: HandoffRequested, now: float) -> None:
        handoff = self._transcript.observe(event)  # with the transcript since the last one
        assert isinstance(handoff, HandoffRequested)
        if not self._v2 and self._v1_answer(handoff):
            return
        actions = self._handoff.on_handoff_requested(handoff)
        self._run(actions, "handoff steering acknowledgement", turn=False)
        text = delegation_text(handoff)
        if text is not None:
            logger.debug("[realtime-text] appending realtime conversation text output")
            self._outputs.append(Delegate(text))
        self._outputs.append(handoff)
        if not self._v2 and self._answers.v1_handoff():  # v1: the request is the answer
            self._send_create()  # the create owed until now
        self._update_turn()

    def _v1_answer(self, event: HandoffRequested) -> bool:
        """v1: a yes/no request while a question waits answers it (see :mod:`._questions`)."""
        approved = yes_or_no(event.input_transcript)
        if approved is None or self._questions.pending is None:
            return False
        answer = self._questions.answered_by_voice(event.handoff_id, approved=approved)
        assert answer is not None
        self._outputs.append(answer)
        ack = self._questions.v1_ack(event.handoff_id, approved=approved)
        self._run([ack], "approval answer", turn=False)
        if self._answers.v1_handoff():  # the request is the answer (as for a handoff)
            self._send_create()
        self._update_turn()
        return True

    def _on_answer_approval(self, event: AnswerApprovalRequested, now: float) -> None:
        answer, actions = self._questions.answered(event)
        if answer is not None:
            self._outputs.append(answer)
        self._run(actions, "approval answer", turn=False)
        self._outputs.append(event)
        self._update_turn()

    def _on_noop(self, event: NoopRequested, now: float) -> None:
        self._run(self._handoff.on_noop(event), "noop function output", turn=False)
        self._outputs.append(event)

    def _on_cancel_requested(self, event: CancelRequested, now: float) -> None:
        cancelled, actions = self._handoff.cancel(event.call_id)
        if cancelled:
            self._outputs.append(CancelDelegation())
        self._run(actions, "cancel acknowledgement", turn=False)
        self._outputs.append(event)
        self._update_turn()

    # --------------------------------------------------------------- actions

    def _run(self, actions: list[HandoffAction], what: str, *, turn: bool = True) -> None:
        for action in actions:
            if isinstance(action, SendMessage):
                message = action.message
                self._send(message, what)
                if message["type"] == "conversation.handoff.append":
                    self._answers.spoken_append()  # spoken: its transcript is the history
                elif message["item"].get("role") == "user":  # a [BACKEND] update
                    self._history.agent(message["item"]["content"][0]["text"])
            else:
                self._request_create(action.reason)
        if turn:
            self._update_turn()

"""The agent link carries approval questions to the voice and answers back (emulator, loopback).

A scripted agent that asks (``ApprovalRequested``) and takes answers
(``answer_approval``): the model says the question, the person's typed yes/no makes
it call ``answer_approval``, and the answer reaches the agent. A question the agent's
own approver asks (``awaits_answer=False``: an app-server client, ``exec`` flags) is
not put to the voice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from realtalk.agent import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalRequested,
    ApprovalResolved,
    ApprovingAgent,
)
from realtalk.conversation import ConversationEvent, Realtime, Started, StartParams
from realtalk.emulator import Emulator
from realtalk.protocol import OutputTranscriptDone

from .conftest import make_settings
from .test_handoff_conversation import TIMEOUT, ScriptedAgent

Factory = Callable[..., Any]
# The call outputs of realtalk's answer_approval (protocol/_questions.py).
APPROVED_OUTPUT = "Approved: the background agent goes ahead."
DECLINED_OUTPUT = "Declined: the background agent will not do it."
NOT_PENDING_OUTPUT = (
    "No approval question is waiting for that answer (it was already answered, timed out, "
    "or its task ended); nothing was changed."
)
REQUEST = ApprovalRequest(
    id="appr_1",
    kind="command",
    reason="It needs the network.",
    command=["pip", "install", "requests"],
)


class AskingAgent(ScriptedAgent):
    """A scripted agent whose questions wait for :meth:`answer_approval`."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, ApprovalDecision]] = []
        self.answered = asyncio.Event()
        self.waiting: set[str] = set()

    async def ask(self, request: ApprovalRequest, *, awaits_answer: bool = True) -> None:
        if awaits_answer:
            self.waiting.add(request.id)
        await self._events.put(ApprovalRequested(request, awaits_answer=awaits_answer))

    def answer_approval(self, request_id: str, decision: ApprovalDecision) -> bool:
        if request_id not in self.waiting:
            return False
        self.waiting.discard(request_id)
        self.answers.append((request_id, decision))
        self.answered.set()
        return True

    @property
    def pending_approvals(self) -> list[str]:
        return sorted(self.waiting)

    async def resolve(self, request_id: str, decision: ApprovalDecision) -> None:
        await self._events.put(ApprovalResolved(request_id, decision))


def _said(text: str) -> Callable[[ConversationEvent], bool]:
    return lambda e: (
        isinstance(e, Realtime)
        and isinstance(e.payload, OutputTranscriptDone)
        and e.payload.text == text
    )


def _outputs(received: list[dict[str, Any]]) -> list[str]:
    return [
        m["item"]["output"]
        for m in received
        if m["type"] == "conversation.item.create" and m["item"]["type"] == "function_call_output"
    ]


async def _delegating(emulator: Emulator, manager_factory: Factory, agent: ScriptedAgent) -> Any:
    mgr, rec = manager_factory(make_settings(emulator.base_url), agent=agent)
    await mgr.start(StartParams())
    await rec.wait_for(lambda e: isinstance(e, Started))
    await mgr.text_in("agent, install requests")
    await mgr.request_response()
    await agent.wait_submitted(1)
    return mgr, rec


async def test_a_spoken_question_is_answered_by_the_persons_yes(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = AskingAgent()
    assert isinstance(agent, ApprovingAgent)
    mgr, rec = await _delegating(emulator, manager_factory, agent)
    await agent.ask(REQUEST)
    await rec.wait_for(_said(REQUEST.question))  # the model says the agent's question
    await mgr.text_in("yes please")
    await mgr.request_response()
    async with asyncio.timeout(TIMEOUT):
        await agent.answered.wait()
    assert agent.answers == [("appr_1", ApprovalDecision.ACCEPT)]
    await rec.wait_for(_said(APPROVED_OUTPUT))
    await agent.resolve("appr_1", ApprovalDecision.ACCEPT)  # nothing more is said
    await agent.finish()
    record = emulator.sessions[-1]
    assert _outputs(record.received).count(APPROVED_OUTPUT) == 1


async def test_a_no_declines_and_a_second_answer_is_late(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = AskingAgent()
    mgr, rec = await _delegating(emulator, manager_factory, agent)
    await agent.ask(REQUEST)
    await rec.wait_for(_said(REQUEST.question))
    await mgr.text_in("no")
    await mgr.request_response()
    async with asyncio.timeout(TIMEOUT):
        await agent.answered.wait()
    assert agent.answers == [("appr_1", ApprovalDecision.DECLINE)]
    await rec.wait_for(_said(DECLINED_OUTPUT))
    await agent.finish()


async def test_a_question_for_the_agents_own_approver_is_not_put_to_the_voice(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = AskingAgent()
    mgr, rec = await _delegating(emulator, manager_factory, agent)
    await agent.ask(REQUEST, awaits_answer=False)
    await agent.say("Installed.")  # a later event: the question's turn has passed
    record = emulator.sessions[-1]
    await record.wait_for_sent(
        lambda m: (
            m.get("type") == "conversation.item.done"
            and "[BACKEND] Installed." in str(m.get("item"))
        ),
        TIMEOUT,
    )
    assert not any("request_id appr_1" in str(m) for m in record.received)
    await mgr.text_in("yes")  # no question waits: the model says so, nothing goes to the agent
    await mgr.request_response()
    await rec.wait_for(_said("You said: yes. The agent is still working on it."))
    assert agent.answers == []
    assert NOT_PENDING_OUTPUT not in _outputs(record.received)
    await agent.finish()


async def test_a_question_from_an_agent_that_takes_no_answers_is_not_put_to_the_voice(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()  # no answer_approval: an answer could never reach it
    await _delegating(emulator, manager_factory, agent)
    await agent._events.put(ApprovalRequested(REQUEST, awaits_answer=True))
    await agent.say("Installed.")
    record = emulator.sessions[-1]
    await record.wait_for_sent(
        lambda m: (
            m.get("type") == "conversation.item.done"
            and "[BACKEND] Installed." in str(m.get("item"))
        ),
        TIMEOUT,
    )
    assert not any("request_id appr_1" in str(m) for m in record.received)
    await agent.finish()

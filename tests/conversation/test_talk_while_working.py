"""Talking while the agent works: typed input during a delegation, and cancelling it.

End to end against the emulator on loopback, with an agent the test drives by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from realtalk import ConversationNotRunningError
from realtalk.agent import INTERRUPTED_MESSAGE, InterruptibleAgent, TaskFailed
from realtalk.conversation import (
    AgentActivity,
    ConversationEvent,
    ConversationManager,
    Realtime,
    Started,
    StartParams,
)
from realtalk.emulator import Emulator, RealtimeSessionRecord
from realtalk.protocol import CANCEL_ACK, CANCELLED_OUTPUT, COMPLETION_ACK, OutputTranscriptDone

from .conftest import Recorder, make_settings
from .test_handoff_conversation import ScriptedAgent

Factory = Callable[..., tuple[ConversationManager, Recorder]]
TIMEOUT = 5.0


class StoppableAgent(ScriptedAgent):
    """Ends its task as the built-in agent does when interrupted."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupts = 0

    async def interrupt(self) -> bool:
        self.interrupts += 1
        if not self.busy:
            return False
        self._busy = False
        await self._events.put(TaskFailed(INTERRUPTED_MESSAGE))
        return True


def _said(text: str) -> Callable[[ConversationEvent], bool]:
    return lambda e: (
        isinstance(e, Realtime)
        and isinstance(e.payload, OutputTranscriptDone)
        and e.payload.text == text
    )


def _outputs(record: RealtimeSessionRecord) -> list[tuple[str, str]]:
    """(call_id, output) of every function_call_output the client sent."""
    return [
        (m["item"]["call_id"], m["item"]["output"])
        for m in record.received
        if m["type"] == "conversation.item.create" and m["item"]["type"] == "function_call_output"
    ]


def _user_texts(record: RealtimeSessionRecord) -> list[str]:
    return [
        m["item"]["content"][0]["text"]
        for m in record.received
        if m["type"] == "conversation.item.create" and m["item"]["type"] == "message"
    ]


async def _start(
    emulator: Emulator, manager_factory: Factory, agent: ScriptedAgent, **overrides: Any
) -> tuple[ConversationManager, Recorder, RealtimeSessionRecord]:
    mgr, rec = manager_factory(make_settings(emulator.base_url, **overrides), agent=agent)
    await mgr.start(StartParams())
    await rec.wait_for(lambda e: isinstance(e, Started))
    await emulator.wait_for_sessions(1)
    return mgr, rec, emulator.sessions[-1]


async def _ask(mgr: ConversationManager, text: str) -> None:
    await mgr.text_in(text)
    await mgr.request_response()


def _is_call(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: (
        m.get("type") == "conversation.item.done"
        and isinstance(m.get("item"), dict)
        and m["item"].get("name") == name
    )


async def _handoff_call_id(record: RealtimeSessionRecord, *, start: int = 0) -> str:
    event = await record.wait_for_sent(_is_call("background_agent"), TIMEOUT, start=start)
    return str(event["item"]["call_id"])


async def test_typed_text_during_a_delegation_is_answered_and_the_result_still_arrives(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, run the tests")
    await agent.wait_submitted(1)
    # The agent is working; the person asks something meanwhile.
    await _ask(mgr, "how is it going?")
    await rec.wait_for(_said("You said: how is it going? The agent is still working on it."))
    assert "[USER] how is it going?" in _user_texts(record)
    assert agent.busy  # answered while the task runs
    await agent.say("All 12 tests pass.")
    await agent.finish()
    await rec.wait_for(_said("The agent says: All 12 tests pass."))
    assert (await _handoff_call_id(record), COMPLETION_ACK) in _outputs(record)


async def test_cancel_delegation_stops_the_agent_and_the_model_says_so(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = StoppableAgent()
    assert isinstance(agent, InterruptibleAgent)
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    assert not await mgr.cancel_delegation()  # nothing runs yet: nothing sent
    await _ask(mgr, "agent, run the tests")
    await agent.wait_submitted(1)
    call_id = await _handoff_call_id(record)

    assert await mgr.cancel_delegation()
    await rec.wait_for(_said("The background task was cancelled."))
    assert _outputs(record) == [(call_id, CANCELLED_OUTPUT)]
    await rec.wait_for(lambda e: e == AgentActivity("cancelled", "the task was stopped"))
    assert agent.interrupts == 1 and not agent.busy
    assert not await mgr.cancel_delegation()

    # The conversation goes on: the next delegation runs and completes as usual.
    await _ask(mgr, "agent, lint the code")
    await agent.wait_submitted(2)
    await agent.say("Lint is clean.")
    await agent.finish()
    await rec.wait_for(_said("The agent says: Lint is clean."))
    calls = [m["item"]["call_id"] for m in record.sent if _is_call("background_agent")(m)]
    assert len(calls) == 2 and calls[0] == call_id
    assert _outputs(record)[-1] == (calls[1], COMPLETION_ACK)


async def test_saying_cancel_that_during_a_delegation_cancels_it(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = StoppableAgent()
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, run the tests")
    await agent.wait_submitted(1)
    call_id = await _handoff_call_id(record)
    await _ask(mgr, "Cancel that.")  # the model maps it to cancel_background_agent
    await rec.wait_for(_said(CANCEL_ACK))
    outputs = _outputs(record)
    assert outputs[0] == (call_id, CANCELLED_OUTPUT)
    assert outputs[1][1] == CANCEL_ACK  # the model's cancel call, answered too
    await rec.wait_for(lambda e: e == AgentActivity("cancelled", "the task was stopped"))
    assert agent.interrupts == 1


async def test_an_agent_that_cannot_stop_is_told_apart_and_its_result_ignored(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()  # no interrupt(): its task runs to its end
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, run the tests")
    await agent.wait_submitted(1)
    assert await mgr.cancel_delegation()
    await rec.wait_for(_said("The background task was cancelled."))
    await rec.wait_for(lambda e: isinstance(e, AgentActivity) and e.kind == "cancelled")
    sent = len(record.received)
    await agent.say("All 12 tests pass.")  # too late: the person cancelled it
    await agent.finish()
    await rec.wait_for(lambda e: e == AgentActivity("complete"))
    # The next delegation is unaffected by the ignored end.
    await _ask(mgr, "agent, lint the code")
    await agent.wait_submitted(2)
    await agent.say("Lint is clean.")
    await agent.finish()
    await rec.wait_for(_said("The agent says: Lint is clean."))
    late = [m for m in record.received[sent:] if "All 12 tests pass" in str(m)]
    assert late == []


async def test_cancel_without_a_conversation_raises(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, _ = manager_factory(make_settings(emulator.base_url), agent=StoppableAgent())
    with pytest.raises(ConversationNotRunningError):
        await mgr.cancel_delegation()

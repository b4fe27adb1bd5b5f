"""Handoff to the background agent, end to end against the emulator (reference 9.5/9.6)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

from realtalk.agent import AgentEvent, AssistantMessage, TaskComplete
from realtalk.conversation import (
    AgentActivity,
    Closed,
    ConversationEvent,
    ConversationManager,
    Realtime,
    Started,
    StartParams,
)
from realtalk.emulator import Emulator, RealtimeSessionRecord
from realtalk.protocol import (
    COMPLETION_ACK,
    STEERING_ACK,
    AudioOut,
    HandoffRequested,
    OutputTranscriptDone,
    Version,
)

from .conftest import Recorder, make_settings

Factory = Callable[..., tuple[ConversationManager, Recorder]]
TIMEOUT = 5.0


class ScriptedAgent:
    """A background agent the test drives by hand (a real BackgroundAgent, not a mock)."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.submitted_event = asyncio.Condition()
        self.gate: asyncio.Event | None = None  # when set, submit blocks until released
        self._events: asyncio.Queue[AgentEvent | None] = asyncio.Queue(64)
        self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    async def submit(self, text: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self._busy = True
        async with self.submitted_event:
            self.submitted.append(text)
            self.submitted_event.notify_all()

    async def wait_submitted(self, n: int) -> list[str]:
        async with asyncio.timeout(TIMEOUT), self.submitted_event:
            await self.submitted_event.wait_for(lambda: len(self.submitted) >= n)
        return self.submitted

    async def say(self, text: str) -> None:
        await self._events.put(AssistantMessage(text))

    async def finish(self) -> None:
        self._busy = False
        await self._events.put(TaskComplete())

    async def events(self) -> AsyncIterator[AgentEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def aclose(self) -> None:
        await self._events.put(None)


def _types(record: RealtimeSessionRecord, *, start: int = 0) -> list[str]:
    return [m["type"] for m in record.received[start:]]


def _is(kind: type[Any]) -> Callable[[ConversationEvent], bool]:
    return lambda e: isinstance(e, Realtime) and isinstance(e.payload, kind)


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


async def test_background_agent_call_delegates_and_returns_function_output(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, fix the <build> & tests")
    (delegation,) = await agent.wait_submitted(1)
    assert delegation.startswith("<realtime_delegation>\n  <input>")
    assert "fix the &lt;build&gt; &amp; tests" in delegation
    assert "user: [USER] agent, fix" not in delegation  # the input uses the tool prompt
    handoff = await rec.wait_for(_is(HandoffRequested))
    assert isinstance(handoff, Realtime) and isinstance(handoff.payload, HandoffRequested)
    call_id = handoff.payload.handoff_id

    mark = len(record.received)
    await agent.say("The build is fixed.")
    await agent.finish()
    await record.wait_for_message(lambda m: m.get("type") == "response.create", start=mark)
    sent = record.received[mark:]
    assert [m["type"] for m in sent] == [
        "conversation.item.create",
        "conversation.item.create",
        "response.create",
    ]
    assert sent[0]["item"]["content"][0]["text"] == "[BACKEND] The build is fixed."
    assert sent[1]["item"] == {
        "type": "function_call_output",
        "call_id": call_id,
        "output": COMPLETION_ACK,
    }
    spoken = await rec.wait_for(
        lambda e: (
            isinstance(e, Realtime)
            and isinstance(e.payload, OutputTranscriptDone)
            and "The build is fixed." in e.payload.text
        )
    )
    assert spoken is not None
    kinds = [a.kind for a in rec.of_type(AgentActivity)]
    assert kinds == ["submitted", "message", "complete"]


async def test_transcript_delta_after_each_handoff(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, rec, _ = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, first task")
    await agent.wait_submitted(1)
    await agent.say("first done")
    await agent.finish()
    await rec.wait_for(
        lambda e: (
            isinstance(e, Realtime)
            and isinstance(e.payload, OutputTranscriptDone)
            and "first done" in e.payload.text
        )
    )
    await _ask(mgr, "agent, second task")
    first, second = await agent.wait_submitted(2)
    assert "first task" in first
    assert "second task" in second
    # The second delegation carries only what happened since the first handoff.
    delta = second.split("<transcript_delta>")[1]
    assert "first task" not in delta
    assert "The agent says: first done" in delta


async def test_steering_an_active_task_acks_and_requests_a_response(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, build the feature")
    await agent.wait_submitted(1)
    first = await rec.wait_for(_is(HandoffRequested))
    mark = len(record.received)
    await _ask(mgr, "ask the agent to also add tests")
    _, steer = await agent.wait_submitted(2)
    assert "also add tests" in steer
    ack = await record.wait_for_message(
        lambda m: m.get("item", {}).get("type") == "function_call_output", start=mark
    )
    assert ack["item"]["output"] == STEERING_ACK
    assert isinstance(first, Realtime) and isinstance(first.payload, HandoffRequested)
    assert ack["item"]["call_id"] != first.payload.handoff_id
    await record.wait_for_message(
        lambda m: m.get("type") == "response.create", start=record.received.index(ack)
    )
    # The original handoff stays active: the agent's output closes *it*.
    mark = len(record.received)
    await agent.say("feature and tests done")
    await agent.finish()
    final = await record.wait_for_message(
        lambda m: m.get("item", {}).get("output") == COMPLETION_ACK, start=mark
    )
    assert final["item"]["call_id"] == first.payload.handoff_id


async def test_handoff_persists_until_task_completion(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, _, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, two step job")
    await agent.wait_submitted(1)
    mark = len(record.received)
    await agent.say("step one")
    await agent.say("step two")
    await agent.finish()
    await record.wait_for_message(lambda m: m.get("type") == "response.create", start=mark)
    texts = [
        m["item"]["content"][0]["text"]
        for m in record.received[mark:]
        if m.get("item", {}).get("type") == "message"
    ]
    assert texts == ["[BACKEND] step one", "[BACKEND] step two"]
    acks = [
        m for m in record.received[mark:] if m.get("item", {}).get("type") == "function_call_output"
    ]
    assert len(acks) == 1


async def test_no_output_means_nothing_is_sent_at_completion(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, silent job")
    await agent.wait_submitted(1)
    mark = len(record.received)
    await agent.finish()
    await rec.wait_for(lambda e: isinstance(e, AgentActivity) and e.kind == "complete")
    # A follow-up message proves the pipeline drained past the completion.
    await mgr.text_in("marker")
    await record.wait_for_message(lambda m: m.get("type") == "conversation.item.create", start=mark)
    assert _types(record, start=mark) == ["conversation.item.create"]


async def test_handoff_does_not_block_audio(emulator: Emulator, manager_factory: Factory) -> None:
    agent = ScriptedAgent()
    agent.gate = asyncio.Event()  # the agent takes "forever" to accept the task
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, slow task")
    await rec.wait_for(lambda e: isinstance(e, AgentActivity) and e.kind == "submitted")
    pcm = base64.b64encode(bytes(960)).decode()
    for i in range(5):
        await record.send_event(
            {"type": "response.output_audio.delta", "item_id": f"late_{i}", "delta": pcm}
        )
    await rec.wait_for(
        lambda e: (
            isinstance(e, Realtime)
            and isinstance(e.payload, AudioOut)
            and e.payload.frame.item_id == "late_4"
        )
    )
    assert agent.submitted == []  # still blocked, yet audio flowed
    agent.gate.set()
    await agent.wait_submitted(1)


async def test_remain_silent_returns_empty_output_without_response(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "please stay silent")
    out = await record.wait_for_message(
        lambda m: m.get("item", {}).get("type") == "function_call_output"
    )
    assert out["item"]["output"] == ""
    index = record.received.index(out)
    await mgr.text_in("marker")
    await record.wait_for_message(
        lambda m: m.get("type") == "conversation.item.create", start=index + 1
    )
    assert "response.create" not in _types(record, start=index)
    assert agent.submitted == []
    assert rec.of_type(Closed) == []


async def test_v1_handoff_appends_agent_messages_with_label(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = ScriptedAgent()
    mgr, _, record = await _start(emulator, manager_factory, agent, version=Version.V1)
    await _ask(mgr, "agent, v1 job")
    (delegation,) = await agent.wait_submitted(1)
    assert "v1 job" in delegation
    await agent.say("v1 result")
    append = await record.wait_for_message(lambda m: m.get("type") == "conversation.handoff.append")
    assert append["output_text"] == '"Agent Final Message":\n\nv1 result'
    assert append["handoff_id"]
    await agent.finish()


async def test_delegated_task_runs_a_shell_tool_with_the_builtin_agent(
    emulator: Emulator, manager_factory: Factory, tmp_path: Any
) -> None:
    from realtalk.agent import ModelClient, ModelClientOptions, ResponsesAgent

    client = ModelClient(
        emulator.base_url, api_key="sk-test-key", options=ModelClientOptions(workspace=tmp_path)
    )
    agent = ResponsesAgent(client, workspace=tmp_path, model="agent-model", instructions="work")
    try:
        await agent.start()  # preconnect at session start
        mgr, rec = manager_factory(make_settings(emulator.base_url), agent=agent)
        await mgr.start(StartParams())
        await rec.wait_for(lambda e: isinstance(e, Started))
        record = emulator.sessions[-1]
        await _ask(mgr, "agent, run `echo shell tool ran` please")
        final = await record.wait_for_message(
            lambda m: m.get("item", {}).get("output") == COMPLETION_ACK, timeout=15
        )
        index = record.received.index(final)
        backend = [
            m["item"]["content"][0]["text"]
            for m in record.received[:index]
            if m.get("item", {}).get("type") == "message"
            and m["item"]["content"][0]["text"].startswith("[BACKEND] ")
        ]
        assert len(backend) == 1 and "shell tool ran" in backend[0]
        acks = [m for m in record.received if m.get("item", {}).get("output") == COMPLETION_ACK]
        assert len(acks) == 1  # a single function_call_output for the delegated turn
        await record.wait_for_message(lambda m: m.get("type") == "response.create", start=index)
        assert emulator.responses.stats.handshakes == 1  # the turn adopted the preconnect
    finally:
        await agent.aclose()


class _CrashingAgent(ScriptedAgent):
    """An agent whose event stream breaks after the task starts."""

    async def events(self) -> AsyncIterator[AgentEvent]:
        async with self.submitted_event:
            await self.submitted_event.wait_for(lambda: bool(self.submitted))
        raise RuntimeError("agent process vanished")
        yield  # pragma: no cover - makes this an async generator


async def test_a_crashing_agent_is_spoken_back_not_left_hanging(
    emulator: Emulator, manager_factory: Factory
) -> None:
    agent = _CrashingAgent()
    mgr, rec, record = await _start(emulator, manager_factory, agent)
    await _ask(mgr, "agent, do something")
    failed = await rec.wait_for(lambda e: isinstance(e, AgentActivity) and e.kind == "failed")
    assert isinstance(failed, AgentActivity) and "agent process vanished" in failed.text
    ack = await record.wait_for_message(lambda m: m.get("item", {}).get("output") == COMPLETION_ACK)
    index = record.received.index(ack)
    spoken = [
        m["item"]["content"][0]["text"]
        for m in record.received[:index]
        if m.get("item", {}).get("type") == "message"
    ]
    assert any("agent process vanished" in text for text in spoken)
    assert mgr.running

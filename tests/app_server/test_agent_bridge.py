"""AgentBridge: agent tasks as turns, and event fan-out (a scripted agent, no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from realtalk.agent import (
    INTERRUPTED_MESSAGE,
    AgentEvent,
    AssistantDelta,
    AssistantMessage,
    InterruptibleAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.app_server import Turn, _agent_bridge
from realtalk.app_server._agent_bridge import AgentBridge, TurnConflictError
from realtalk.app_server._outbox import Outbox


class ScriptedAgent:
    """A BackgroundAgent whose events the test pushes."""

    def __init__(self) -> None:
        self.busy = False
        self.submitted: list[str] = []
        self.closed = False
        self._events: asyncio.Queue[AgentEvent | None] = asyncio.Queue()

    async def submit(self, text: str) -> None:
        self.submitted.append(text)
        self.busy = True

    async def events(self) -> AsyncIterator[AgentEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    def push(self, event: AgentEvent) -> None:
        if isinstance(event, TaskComplete | TaskFailed):
            self.busy = False
        self._events.put_nowait(event)

    async def aclose(self) -> None:
        self.closed = True
        self.busy = False
        self._events.put_nowait(None)


class InterruptibleScriptedAgent(ScriptedAgent):
    """A ScriptedAgent whose interrupt ends the task the way ResponsesAgent does."""

    def __init__(self, *, stops: bool = True) -> None:
        super().__init__()
        self.stops = stops
        self.interrupts = 0

    async def interrupt(self) -> bool:
        self.interrupts += 1
        if not self.busy:
            return False
        if self.stops:
            self.push(TaskFailed(INTERRUPTED_MESSAGE))
        return True


class Sink:
    """Collects (method, params) notifications."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    async def __call__(self, method: str, params: msgspec.Struct) -> None:
        self.items.append((method, msgspec.to_builtins(params)))
        self._changed.set()

    async def wait_for(self, method: str, count: int = 1) -> None:
        async with asyncio.timeout(5):
            while sum(1 for m, _ in self.items if m == method) < count:
                self._changed.clear()
                await self._changed.wait()

    def methods(self) -> list[str]:
        return [m for m, _ in self.items]


@pytest.fixture
def agents() -> list[ScriptedAgent]:
    return []


@pytest.fixture
def interruptible() -> bool:
    return False


@pytest.fixture
async def bridge(
    agents: list[ScriptedAgent], *, interruptible: bool
) -> AsyncIterator[tuple[AgentBridge, Sink]]:
    def factory() -> ScriptedAgent:
        agents.append(InterruptibleScriptedAgent() if interruptible else ScriptedAgent())
        return agents[-1]

    sink = Sink()
    bridge = AgentBridge("thr_1", factory, sink)
    yield bridge, sink
    await bridge.aclose()


async def _noop(turn: Turn) -> None:
    del turn


async def test_task_becomes_a_turn_with_items(
    bridge: tuple[AgentBridge, Sink], agents: list[ScriptedAgent]
) -> None:
    b, sink = bridge
    answered: list[Turn] = []

    async def respond(turn: Turn) -> None:
        answered.append(turn)
        assert sink.items == []  # the answer comes before turn/started

    turn = await b.start_turn("hello", respond)
    assert answered == [turn] and turn.status == "inProgress"
    assert agents[0].submitted == ["hello"] and b.active_turn_id == turn.id
    agents[0].push(AssistantMessage("hi there"))
    agents[0].push(TaskComplete())
    await sink.wait_for("turn/completed")
    assert sink.methods() == [
        "turn/started",
        "item/started",
        "item/completed",
        "item/started",
        "item/agentMessage/delta",
        "item/completed",
        "turn/completed",
    ]
    delta = sink.items[4][1]
    assert delta["delta"] == "hi there" and delta["turnId"] == turn.id
    final = sink.items[-1][1]["turn"]
    assert final["status"] == "completed" and final["error"] is None
    assert [i["type"] for i in final["items"]] == ["userMessage", "agentMessage"]
    assert b.active_turn_id is None


async def test_busy_agent_is_steered_and_conflicts_are_refused(
    bridge: tuple[AgentBridge, Sink], agents: list[ScriptedAgent]
) -> None:
    b, sink = bridge
    turn = await b.start_turn("first", _noop)
    await b.submit("handoff while busy")  # steers: no second turn
    assert agents[0].submitted == ["first", "handoff while busy"]
    assert sink.methods().count("turn/started") == 1
    with pytest.raises(TurnConflictError, match="already has a turn in progress"):
        await b.start_turn("second", _noop)
    assert await b.steer("more", turn.id) == turn.id
    with pytest.raises(TurnConflictError, match="expected turn other"):
        await b.steer("more", "other")
    agents[0].push(TaskFailed("The background agent failed: boom"))
    await sink.wait_for("turn/completed")
    assert sink.methods()[-2:] == ["error", "turn/completed"]
    failed = sink.items[-1][1]["turn"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"message": "The background agent failed: boom"}
    with pytest.raises(TurnConflictError, match="has no turn in progress"):
        await b.steer("late", turn.id)


async def test_events_reach_the_conversation_only_once_it_listens(
    bridge: tuple[AgentBridge, Sink], agents: list[ScriptedAgent]
) -> None:
    b, sink = bridge
    await b.submit("before anyone listens")
    agents[0].push(TaskComplete())
    await sink.wait_for("turn/completed")
    events = b.events()
    await b.submit("now")
    agents[0].push(AssistantMessage("answer"))
    agents[0].push(TaskComplete())
    async with asyncio.timeout(5):
        got = [await anext(events), await anext(events)]
    assert got == [AssistantMessage("answer"), TaskComplete()]


async def test_interrupt_reports_interrupted_and_replaces_the_agent(
    bridge: tuple[AgentBridge, Sink], agents: list[ScriptedAgent]
) -> None:
    b, sink = bridge
    events = b.events()
    turn = await b.start_turn("long task", _noop)
    order: list[str] = []

    async def respond() -> None:
        order.append("answered")

    with pytest.raises(TurnConflictError):
        await b.interrupt("turn_other", respond)
    await b.interrupt(turn.id, respond)
    assert order == ["answered"]
    assert agents[0].closed and len(agents) == 2
    assert sink.items[-1][0] == "turn/completed"
    assert sink.items[-1][1]["turn"]["status"] == "interrupted"
    async with asyncio.timeout(5):
        assert await anext(events) == TaskFailed("the task was interrupted by the user")
    # The fresh agent takes the next turn.
    await b.start_turn("again", _noop)
    assert agents[1].submitted == ["again"]


async def test_deltas_stream_into_one_item_and_are_not_forwarded(
    bridge: tuple[AgentBridge, Sink], agents: list[ScriptedAgent]
) -> None:
    b, sink = bridge
    events = b.events()
    turn = await b.start_turn("hello", _noop)
    for piece in ("You ", "said: ", "hello"):
        agents[0].push(AssistantDelta(piece))
    agents[0].push(AssistantMessage("You said: hello"))
    agents[0].push(AssistantMessage("a second, unstreamed message"))
    agents[0].push(TaskComplete())
    await sink.wait_for("turn/completed")
    assert sink.methods()[3:] == [
        "item/started",
        *["item/agentMessage/delta"] * 3,
        "item/completed",
        "item/started",
        "item/agentMessage/delta",
        "item/completed",
        "turn/completed",
    ]
    first_id = sink.items[3][1]["item"]["id"]
    assert [p["itemId"] for _, p in sink.items[4:7]] == [first_id] * 3
    assert [p["delta"] for _, p in sink.items[4:7]] == ["You ", "said: ", "hello"]
    assert sink.items[7][1]["item"] == {
        "type": "agentMessage",
        "id": first_id,
        "text": "You said: hello",
    }
    assert sink.items[9][1]["delta"] == "a second, unstreamed message"
    final = sink.items[-1][1]["turn"]
    assert final["id"] == turn.id
    assert [i.get("text") for i in final["items"][1:]] == [
        "You said: hello",
        "a second, unstreamed message",
    ]
    async with asyncio.timeout(5):
        got = [await anext(events) for _ in range(3)]
    assert got == [
        AssistantMessage("You said: hello"),
        AssistantMessage("a second, unstreamed message"),
        TaskComplete(),
    ]


@pytest.mark.parametrize("interruptible", [True])
async def test_interrupt_keeps_the_agent_and_completes_the_partial_message(
    bridge: tuple[AgentBridge, Sink], agents: list[ScriptedAgent]
) -> None:
    b, sink = bridge
    events = b.events()
    turn = await b.start_turn("long task", _noop)
    agents[0].push(AssistantDelta("partial "))
    await sink.wait_for("item/agentMessage/delta")
    order: list[str] = []

    async def respond() -> None:
        order.append(f"answered after {len(sink.items)} notifications")

    await b.interrupt(turn.id, respond)
    # The interrupt returns once the turn is reported, and answered before that.
    assert order == ["answered after 5 notifications"]
    assert sink.methods()[5:] == ["item/completed", "turn/completed"]
    assert sink.items[5][1]["item"]["text"] == "partial "
    final = sink.items[-1][1]["turn"]
    assert final["status"] == "interrupted" and final["error"] is None
    assert [i["type"] for i in final["items"]] == ["userMessage", "agentMessage"]
    agent = agents[0]
    assert isinstance(agent, InterruptibleAgent)
    assert isinstance(agent, InterruptibleScriptedAgent) and agent.interrupts == 1
    assert len(agents) == 1 and not agents[0].closed and b.active_turn_id is None
    async with asyncio.timeout(5):
        assert await anext(events) == TaskFailed(INTERRUPTED_MESSAGE)
    await b.start_turn("again", _noop)
    assert agents[0].submitted == ["long task", "again"]


@pytest.mark.parametrize("interruptible", [True])
async def test_an_agent_that_does_not_stop_is_replaced(
    bridge: tuple[AgentBridge, Sink],
    agents: list[ScriptedAgent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_agent_bridge, "INTERRUPT_TIMEOUT_S", 0.05)
    b, sink = bridge
    turn = await b.start_turn("stuck", _noop)
    first = agents[0]
    assert isinstance(first, InterruptibleScriptedAgent)
    first.stops = False
    await b.interrupt(turn.id, _answered)
    assert first.interrupts == 1 and first.closed and len(agents) == 2
    assert sink.items[-1][0] == "turn/completed"
    assert sink.items[-1][1]["turn"]["status"] == "interrupted"
    assert b.active_turn_id is None


async def _answered() -> None:
    pass


async def test_aclose_ends_the_event_stream(bridge: tuple[AgentBridge, Sink]) -> None:
    b, _ = bridge
    events = b.events()
    await b.aclose()
    async with asyncio.timeout(5):
        with pytest.raises(StopAsyncIteration):
            await anext(events)


async def test_outbox_batches_bounds_and_closes() -> None:
    box = Outbox(2)
    assert box.put_nowait(b"a") and box.put_nowait(b"b")
    assert not box.put_nowait(b"c")
    assert not await box.put(b"c", timeout=0.01)  # nobody reads: times out
    waiting = asyncio.create_task(box.put(b"c", timeout=5))
    assert await box.get_batch() == [b"a", b"b"]
    assert await waiting
    box.close()
    assert not box.put_nowait(b"d")
    assert await box.get_batch() == [b"c"]  # queued messages still drain
    assert await box.get_batch() == []
    with pytest.raises(ValueError, match="positive"):
        Outbox(0)

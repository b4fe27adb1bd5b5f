"""The thread recorder: what the client is told is what is stored, in order, and a
completed turn is stored before the client hears of it."""

from __future__ import annotations

from typing import Any

import msgspec

from realtalk.app_server._api import (
    AgentMessageItem,
    ItemCompletedNotification,
    TextInput,
    Turn,
    TurnCompletedNotification,
    TurnError,
    TurnStartedNotification,
    UserMessageItem,
)
from realtalk.app_server._methods import NotificationMethod
from realtalk.app_server._recorder import ThreadRecorder, context_turns
from realtalk.app_server._store import (
    StoredTurn,
    ThreadRecord,
    TranscriptLine,
)
from realtalk.app_server._store_memory import MemoryThreadStore
from realtalk.conversation import ThreadTurn

RECORD = ThreadRecord(
    id="thr_r",
    cwd="/work",
    model="m",
    model_provider="openai",
    instructions="i",
    created_ms=1000,
    updated_ms=1000,
)


class FakeAgent:
    def __init__(self, history: list[dict[str, Any]]) -> None:
        self.history = history


def test_agent_turns_and_transcript_merge_in_time_order() -> None:
    ask = UserMessageItem(id="u", content=[TextInput(text="run the tests")])
    done = Turn(id="t1", status="completed", items=[ask, AgentMessageItem(id="a", text="green")])
    failed = Turn(id="t2", status="failed", items=[ask], error=TurnError(message="boom"))
    lines = [
        TranscriptLine(role="user", text="hi", at_ms=5),
        TranscriptLine(role="assistant", text="hello", at_ms=6),
        TranscriptLine(role="user", text="and", at_ms=12),
        TranscriptLine(role="user", text="then?", at_ms=13),
        TranscriptLine(role="assistant", text="ok", at_ms=14),
    ]
    turns = [StoredTurn(turn=done, created_ms=10), StoredTurn(turn=failed, created_ms=20)]
    assert context_turns(turns, lines) == [
        ThreadTurn((("User", "hi"), ("Assistant", "hello"))),
        ThreadTurn(
            (("Task for the background agent", "run the tests"), ("Background agent", "green"))
        ),
        ThreadTurn((("User", "and"), ("User", "then?"), ("Assistant", "ok"))),
        ThreadTurn(
            (
                ("Task for the background agent", "run the tests"),
                ("Background agent", "(the task ended failed: boom)"),
            )
        ),
    ]


async def test_a_turn_is_stored_before_the_client_hears_it_completed() -> None:
    store = MemoryThreadStore()
    await store.create(RECORD)
    recorder = ThreadRecorder(store, RECORD)
    agent = FakeAgent([])
    recorder.attach(lambda: agent)
    recorder.track(agent, 0)
    seen: list[tuple[str, str | None]] = []

    async def client(method: NotificationMethod, params: msgspec.Struct) -> None:
        # What the store holds at the moment the client is told.
        stored = (await store.load("thr_r")).turns
        seen.append((method, stored[-1].turn.status if stored else None))

    emit = recorder.wrap(client)
    ask = UserMessageItem(id="u1", content=[TextInput(text="  fix   the build  ")])
    await emit(
        NotificationMethod.TURN_STARTED,
        TurnStartedNotification(thread_id="thr_r", turn=Turn(id="t1", status="inProgress")),
    )
    await emit(
        NotificationMethod.ITEM_COMPLETED,
        ItemCompletedNotification(thread_id="thr_r", turn_id="t1", item=ask),
    )
    agent.history = [{"type": "message", "role": "user", "content": []}, {"type": "x"}]
    final = Turn(id="t1", status="completed", items=[ask, AgentMessageItem(id="a", text="ok")])
    await emit(
        NotificationMethod.TURN_COMPLETED, TurnCompletedNotification(thread_id="thr_r", turn=final)
    )
    assert seen[-1] == ("turn/completed", "completed")
    loaded = await store.load("thr_r")
    assert [t.turn for t in loaded.turns] == [final]
    assert loaded.history == agent.history
    assert loaded.record.preview == "fix the build"
    # The next turn stores only what the agent added since.
    agent.history = [*agent.history, {"type": "y"}]
    await emit(
        NotificationMethod.TURN_STARTED,
        TurnStartedNotification(thread_id="thr_r", turn=Turn(id="t2", status="inProgress")),
    )
    await emit(
        NotificationMethod.TURN_COMPLETED,
        TurnCompletedNotification(thread_id="thr_r", turn=Turn(id="t2", status="completed")),
    )
    assert (await store.load("thr_r")).history == agent.history
    recorder.transcript("user", "spoken words")
    recorder.transcript("assistant", "   ")  # nothing to store
    await recorder.flush()
    assert [ln.text for ln in (await store.load("thr_r")).transcript] == ["spoken words"]
    await recorder.aclose()
    await recorder.aclose()  # idempotent
    await store.claim("thr_r")  # closing released the thread


async def test_a_recorder_that_lost_its_thread_stops_writing() -> None:
    store = MemoryThreadStore()
    await store.create(RECORD)
    recorder = ThreadRecorder(store, RECORD)
    await store.release("thr_r")  # as if another app-server had taken the thread over
    recorder.transcript("user", "first")
    recorder.transcript("user", "second")
    await recorder.flush()
    await store.claim("thr_r")  # the new owner; the old recorder must not write
    recorder.transcript("user", "third")
    await recorder.flush()
    assert (await store.load("thr_r")).transcript == []
    await recorder.aclose()

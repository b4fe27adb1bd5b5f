"""``realtalk bench handoff``: the handoff never stalls audio, and results go back fast.

Setup: an in-process emulator in echo mode (every audio frame we send comes back as
an output audio delta) and a conversation streaming 50 frames/s. Each round asks the
model to delegate; a synthetic agent works for ``work_ms`` (sending progress every
100 ms), then sends its final message and completes.

* ``final_to_create_ms``: median time from the agent's final event to the
  ``response.create`` arriving at the emulator.
* ``max_audio_gap_ms``: the largest gap between delivered output audio deltas while
  agent tasks run (50 frames/s means 20 ms nominal).
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

from realtalk._config import Settings
from realtalk.agent import AgentEvent, AssistantMessage, TaskComplete
from realtalk.conversation import (
    AgentActivity,
    ConversationManager,
    Realtime,
    Started,
    StartParams,
    WebSocketTransport,
)
from realtalk.emulator import Emulator, EmulatorOptions, RealtimeSessionRecord
from realtalk.protocol import COMPLETION_ACK, AudioFrame, AudioOut

__all__ = ["bench_handoff"]


class _BenchAgent:
    """Works for a fixed time, reporting progress; records when it finished."""

    def __init__(self, work_ms: int) -> None:
        self._work_s = work_ms / 1000.0
        self._events: asyncio.Queue[AgentEvent | None] = asyncio.Queue(64)
        self._task: asyncio.Task[None] | None = None
        self.final_at: list[float] = []
        self.working = False

    @property
    def busy(self) -> bool:
        return self.working

    async def submit(self, text: str) -> None:
        if self._task is None or self._task.done():
            self.working = True
            self._task = asyncio.ensure_future(self._work(text))

    async def _work(self, text: str) -> None:
        steps = max(1, int(self._work_s / 0.1))
        for i in range(steps):
            await asyncio.sleep(0.1)  # simulated work
            await self._events.put(AssistantMessage(f"step {i + 1} of {steps} done"))
        self.final_at.append(time.perf_counter())
        await self._events.put(TaskComplete())
        self.working = False

    async def events(self) -> AsyncIterator[AgentEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._events.put(None)


async def _create_arrival(record: RealtimeSessionRecord, start: int) -> float:
    """When the ``response.create`` that follows the completion ack reached the emulator."""
    ack = await record.wait_for_message(
        lambda m: m.get("item", {}).get("output") == COMPLETION_ACK, timeout=30, start=start
    )
    index = record.received.index(ack)
    await record.wait_for_message(
        lambda m: m.get("type") == "response.create", timeout=30, start=index
    )
    return time.perf_counter()


async def bench_handoff(rounds: int = 5, work_ms: int = 1000) -> dict[str, Any]:
    agent = _BenchAgent(work_ms)
    async with Emulator(EmulatorOptions(echo_audio=True)) as emu:
        base = await emu.start()
        settings = Settings(
            api_key="bench", base_url=base, startup_context="", transport="websocket"
        )
        mgr = ConversationManager(settings, agent=agent)
        sub = mgr.subscribe()
        gaps: list[float] = []
        window = {"open": False, "last": 0.0}
        complete = asyncio.Event()
        started = asyncio.Event()

        async def consume() -> None:
            async for event in sub:
                if isinstance(event, Started):
                    started.set()
                elif isinstance(event, Realtime) and isinstance(event.payload, AudioOut):
                    now = time.perf_counter()
                    if window["open"] and window["last"]:
                        gaps.append((now - window["last"]) * 1000.0)
                    window["last"] = now
                elif isinstance(event, AgentActivity) and event.kind == "complete":
                    complete.set()

        frame = AudioFrame(base64.b64encode(bytes(960)).decode("ascii"))

        async def pump_audio() -> None:
            t0 = time.perf_counter()
            tick = 0
            while True:
                await mgr.audio_in(frame)
                tick += 1
                delay = t0 + tick * 0.02 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)

        final_to_create: list[float] = []
        async with asyncio.TaskGroup() as tg:
            consumer = tg.create_task(consume())
            await mgr.start(StartParams(transport=WebSocketTransport()))
            async with asyncio.timeout(10):
                await started.wait()
            record = emu.sessions[0]
            pump = tg.create_task(pump_audio())
            for i in range(rounds):
                complete.clear()
                watcher = tg.create_task(_create_arrival(record, len(record.received)))
                await mgr.text_in(f"agent, benchmark job {i}")
                await mgr.request_response()
                window["open"], window["last"] = True, 0.0
                async with asyncio.timeout(30):
                    await complete.wait()
                    arrived = await watcher
                window["open"] = False
                final_to_create.append((arrived - agent.final_at[-1]) * 1000.0)
            pump.cancel()
            await mgr.aclose()
            await agent.aclose()
            consumer.cancel()
    return {
        "final_to_create_ms": round(statistics.median(final_to_create), 2),
        "max_audio_gap_ms": round(max(gaps) if gaps else 0.0, 2),
        "rounds": rounds,
        "work_ms": work_ms,
        "p99_audio_gap_ms": round(sorted(gaps)[int(len(gaps) * 0.99) - 1] if gaps else 0.0, 2),
    }

"""``realtalk bench relay``: S WebSocket conversations streaming audio both ways.

The emulator runs in another process in echo mode (every audio append comes back as
one output delta). Each session sends a 20 ms frame 50 times a second; the report
holds the gaps between delivered output frames, the CPU each process spends per
message (a message is one frame sent or delivered: the client sends and receives each
one, the emulator receives and sends each one) and the memory each session costs.
CPU per message is the figure to compare candidates with: unlike the gaps, it hardly
moves when other processes share the cores.

Once every session is up, the objects alive are frozen out of the garbage collector
(``gc.freeze()``, as a server holding long-lived sessions should do after start-up): a
full collection walks every session's objects, about 55 ms with the loop stopped at
300 sessions, and a handful of those pauses is the p99. ``gc_freeze=False`` measures
without it; the report counts the full collections during the run and the longest
pause of any collection.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import resource
import time
from typing import Any

from realtalk._config import Settings
from realtalk._loop import loop_name
from realtalk.bench._util import percentile, proc_cpu_s, realtalk_argv, spawn_ready
from realtalk.conversation import (
    ConversationManager,
    Realtime,
    Started,
    StartParams,
    WebSocketTransport,
)
from realtalk.protocol import AudioFrame, AudioOut

__all__ = ["bench_relay"]


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover - Linux only


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sys_s() -> float:
    """Kernel CPU (socket syscalls, epoll; on loopback also the peer's TCP receive)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


class _GcPauses:
    """Collections while measuring: how many were full, and the longest pause."""

    def __init__(self) -> None:
        self.full = 0
        self.max_s = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.max_s = max(self.max_s, time.perf_counter() - self._started)
        if info["generation"] == 2:
            self.full += 1


async def bench_relay(
    sessions: int = 100, seconds: float = 5.0, *, gc_freeze: bool = True
) -> dict[str, Any]:
    """Run the benchmark; ``{"sessions", "frames_per_s", "p50_ms", "p99_ms", ...}``."""
    frame = AudioFrame(base64.b64encode(bytes(960)).decode("ascii"))
    argv = realtalk_argv("emulator", "--port", "0", "--echo-audio")
    async with spawn_ready(argv) as (base, emulator_pid):
        settings = Settings(
            api_key="bench", base_url=base, startup_context="", transport="websocket"
        )
        rss0 = _rss_kb()
        managers = [ConversationManager(settings) for _ in range(sessions)]
        arrivals: list[list[float]] = [[] for _ in range(sessions)]
        started = 0
        all_started = asyncio.Event()
        measuring = False

        async def consume(i: int, mgr: ConversationManager) -> None:
            nonlocal started
            times = arrivals[i]
            async for event in mgr.subscribe():
                if isinstance(event, Started):
                    started += 1
                    if started == sessions:
                        all_started.set()
                elif (
                    measuring
                    and isinstance(event, Realtime)
                    and isinstance(event.payload, AudioOut)
                ):
                    times.append(time.perf_counter())

        async with asyncio.TaskGroup() as tg:
            consumers = [tg.create_task(consume(i, m)) for i, m in enumerate(managers)]
            for m in managers:
                await m.start(StartParams(transport=WebSocketTransport()))
            async with asyncio.timeout(60):
                await all_started.wait()
            rss1 = _rss_kb()
            if gc_freeze:
                gc.collect()
                gc.freeze()
            pauses = _GcPauses()
            gc.callbacks.append(pauses)
            measuring = True
            cpu0, sys0, t0 = _cpu_s(), _sys_s(), time.perf_counter()
            emulator_cpu0 = proc_cpu_s(emulator_pid)
            tick = 0
            while time.perf_counter() - t0 < seconds:
                for m in managers:
                    await m.audio_in(frame)
                tick += 1
                # Late or not, yield once a tick: a sender that never yields while behind
                # would starve the sockets it feeds (and measure its own backlog).
                await asyncio.sleep(max(0.0, t0 + tick * 0.02 - time.perf_counter()))
            await asyncio.sleep(0.1)  # let the last echoes land (not synchronisation)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
            kernel = _sys_s() - sys0
            emulator_cpu = proc_cpu_s(emulator_pid) - emulator_cpu0
            measuring = False
            gc.callbacks.remove(pauses)
            gc.unfreeze()
            for m in managers:
                await m.aclose()
            for c in consumers:
                c.cancel()
    gaps = [(b - a) * 1000.0 for times in arrivals for a, b in zip(times, times[1:], strict=False)]
    delivered = sum(len(t) for t in arrivals)
    sent = tick * sessions
    return {
        "sessions": sessions,
        "loop": loop_name(),
        "seconds": seconds,
        "frames_per_s": round(delivered / wall, 1),
        "p50_ms": round(percentile(gaps, 50), 2),
        "p99_ms": round(percentile(gaps, 99), 2),
        # Fewer sent than due: the client could not keep 50 frames/s per session (its
        # loop saturated), so the gaps above are measured at a lower rate than asked.
        "frames_due": round(sessions * seconds / 0.02),
        "frames_sent": sent,
        "frames_delivered": delivered,
        "cpu_percent": round(cpu / wall * 100.0, 1),
        "cpu_kernel_percent": round(kernel / wall * 100.0, 1),
        "client_cpu_us_per_message": round(cpu / max(1, sent + delivered) * 1e6, 2),
        "emulator_cpu_percent": round(emulator_cpu / wall * 100.0, 1),
        # The emulator reads every frame sent and writes every frame delivered.
        "emulator_cpu_us_per_message": round(emulator_cpu / max(1, sent + delivered) * 1e6, 2),
        "rss_kb_per_session": round((rss1 - rss0) / sessions, 1),
        "gc_freeze": gc_freeze,
        "gc_full_collections": pauses.full,
        "gc_max_pause_ms": round(pauses.max_s * 1000.0, 2),
    }

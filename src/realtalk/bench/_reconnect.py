"""``realtalk bench reconnect``: how long a lost realtime session leaves the talk silent.

``realtalk emulator --max-session-s S`` runs in its own process and ends every realtime
session after S seconds as the real API does at its cap (``session_expired``, close
1001). One conversation first builds a history of ``turns`` answered questions, then
waits for ``rounds`` session ends. Measured at the subscriber, per round:

* ``reconnect_ms``: from ``Reconnecting`` (the old session's end reached the
  conversation) to the first event of the new session (its ``session.updated``), the
  history and the settings restored;
* ``session_update_ms``: the ``Reconnected`` event's own figure, from the end of the old
  session to the new session's ``session.update`` on the wire.

Baseline, in the same run against the same server: ``fresh_start_ms``, from
``start()`` of a new conversation to its first ``session.updated`` (what a person who
restarts by hand waits at least, history lost). ``reconnect_ratio`` = reconnect /
fresh start (medians).

Keep ``max_session_s`` above a second: a session that ends sooner counts as a server
that drops new sessions, and the next attempt waits for the backoff (``_renewal``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from realtalk._config import Settings
from realtalk.bench._util import realtalk_argv, spawn_ready
from realtalk.conversation import (
    ConversationEvent,
    ConversationManager,
    Realtime,
    Reconnected,
    Reconnecting,
    Started,
    StartParams,
    Subscription,
    WebSocketTransport,
)
from realtalk.protocol import OutputTranscriptDone, SessionUpdated

__all__ = ["bench_reconnect"]

_WAIT_S = 30.0


def _settings(base_url: str) -> Settings:
    return Settings(api_key="bench", base_url=base_url, startup_context="", transport="websocket")


async def _next(sub: Subscription, kind: type[Any], *, payload: bool = False) -> float:
    """Wait for the next event of ``kind`` (a Realtime payload's type if ``payload``)."""
    async with asyncio.timeout(_WAIT_S):
        async for event in sub:
            if _is(event, kind, payload=payload):
                return time.perf_counter()
    raise RuntimeError("the conversation's events ended")


def _is(event: ConversationEvent, kind: type[Any], *, payload: bool) -> bool:
    if payload:
        return isinstance(event, Realtime) and isinstance(event.payload, kind)
    return isinstance(event, kind)


async def _fresh_start(base_url: str) -> float:
    mgr = ConversationManager(_settings(base_url))
    sub = mgr.subscribe()
    try:
        began = time.perf_counter()
        await mgr.start(StartParams(transport=WebSocketTransport()))
        return (await _next(sub, SessionUpdated, payload=True) - began) * 1000.0
    finally:
        await mgr.aclose()


async def bench_reconnect(
    rounds: int = 5, turns: int = 4, max_session_s: float = 2.0
) -> dict[str, Any]:
    argv = realtalk_argv(
        "emulator", "--port", "0", "--fast-audio", "--max-session-s", f"{max_session_s:g}"
    )
    async with spawn_ready(argv) as (base_url, _pid):
        reconnects: list[float] = []
        wire: list[float] = []
        fresh: list[float] = []
        mgr = ConversationManager(_settings(base_url))
        sub = mgr.subscribe()
        try:
            await mgr.start(StartParams(transport=WebSocketTransport()))
            await _next(sub, Started)
            for n in range(turns):  # a history to restore (within the first session)
                await mgr.text_in(f"turn {n}: remember the number {n}")
                await mgr.request_response()
                await _next(sub, OutputTranscriptDone, payload=True)
            for _ in range(rounds):
                lost = await _next(sub, Reconnecting)
                async with asyncio.timeout(_WAIT_S):
                    async for event in sub:
                        if isinstance(event, Reconnected):
                            wire.append(event.elapsed_ms)
                            break
                first = await _next(sub, SessionUpdated, payload=True)
                reconnects.append((first - lost) * 1000.0)
                fresh.append(await _fresh_start(base_url))
        finally:
            await mgr.aclose()
    reconnect_ms = statistics.median(reconnects)
    fresh_ms = statistics.median(fresh)
    return {
        "bench": "reconnect",
        "rounds": rounds,
        "history_turns": turns,
        "max_session_s": max_session_s,
        "reconnect_ms": round(reconnect_ms, 2),
        "reconnect_ms_max": round(max(reconnects), 2),
        "session_update_ms": round(statistics.median(wire), 2),
        "fresh_start_ms": round(fresh_ms, 2),
        "reconnect_ratio": round(reconnect_ms / fresh_ms, 3) if fresh_ms else None,
    }

"""``--timeout`` as an idle limit (``wait_for_turn``), on the clock but without sockets."""

from __future__ import annotations

import asyncio
import time

import pytest

from realtalk.cli._turns import IdleTimeoutError, TurnTracker, wait_for_turn
from realtalk.conversation import AgentActivity, Realtime
from realtalk.protocol import TurnDone, TurnStarted


async def test_a_turn_with_nothing_happening_times_out_after_the_limit() -> None:
    tracker = TurnTracker()
    tracker.expect_turn()
    started = time.monotonic()
    with pytest.raises(IdleTimeoutError, match="nothing happened for 0.2s"):
        await tracker.wait_idle(0.2)
    assert time.monotonic() - started >= 0.2


async def test_a_running_agent_task_suspends_the_limit() -> None:
    tracker = TurnTracker()
    tracker.observe(Realtime(TurnStarted()))
    tracker.observe(AgentActivity("submitted", "run the tests"))
    loop = asyncio.get_running_loop()
    # The agent works silently for several limits, then its result ends the turn.
    loop.call_later(0.6, tracker.observe, AgentActivity("complete"))
    loop.call_later(0.6, tracker.observe, Realtime(TurnDone()))
    await tracker.wait_idle(0.1)
    assert tracker.idle.is_set() and not tracker.agent_running


async def test_the_limit_counts_from_the_last_activity() -> None:
    ticks = 0
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    last = time.monotonic()

    def activity() -> None:  # something happens every 0.1 s, then the turn ends
        nonlocal ticks, last
        ticks += 1
        last = time.monotonic()
        if ticks == 6:
            done.set()
        else:
            loop.call_later(0.1, activity)

    loop.call_later(0.1, activity)
    await wait_for_turn(
        done.wait,
        done=done.is_set,
        last_activity=lambda: last,
        agent_running=lambda: False,
        limit=0.4,  # longer than the gaps, shorter than the whole turn
    )
    assert ticks == 6


async def test_a_tracker_starts_idle_and_a_cancelled_task_ends_the_agents_work() -> None:
    tracker = TurnTracker()
    assert tracker.idle.is_set() and not tracker.busy.is_set()
    await tracker.wait_idle(0.1)  # nothing asked: nothing to wait for
    tracker.observe(AgentActivity("submitted", "x"))
    assert tracker.agent_running
    tracker.observe(AgentActivity("cancelled", "the task was stopped"))
    assert not tracker.agent_running

"""CommandAgent's tasks with real subprocesses: steering while busy (queued, merged
when the queue is full, continued after a failed step), closing, and interrupting.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from realtalk import AgentError
from realtalk.agent import (
    INTERRUPTED_MESSAGE,
    AssistantMessage,
    InterruptibleAgent,
    TaskComplete,
    TaskFailed,
)
from tests._procs import wait_gone

from ._command_support import WAIT, Factory, assert_reaped, next_event, run_task, script


def gated_script(fifo: Path) -> list[str]:
    """Prints "started <text>", waits for the FIFO to be opened for writing when the
    text is "first", then prints "finished <text>"."""
    return script(
        f"""
        import sys
        text = sys.argv[-1].replace("\\n", "|")  # keep a merged text on one line
        print("started", text, flush=True)
        print(flush=True)
        if text == "first":
            open({str(fifo)!r}).read()
        print("finished", text)
        """
    )


async def release(fifo: Path) -> None:
    def write() -> None:
        with open(fifo, "w"):  # blocks until the script opens the FIFO for reading
            pass

    async with asyncio.timeout(WAIT):
        await asyncio.to_thread(write)


async def test_steering_while_busy_is_queued_as_next_task(
    make_agent: Factory, tmp_path: Path
) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    agent = make_agent(gated_script(fifo))
    events = aiter(agent.events())
    await agent.submit("first")
    assert agent.busy
    assert await next_event(events) == AssistantMessage("started first")
    await agent.submit("second")  # steering: queued, returns at once
    assert agent.busy
    await release(fifo)
    collected = [await next_event(events) for _ in range(4)]
    assert collected == [
        AssistantMessage("finished first"),
        AssistantMessage("started second"),
        AssistantMessage("finished second"),
        TaskComplete(),  # one terminal event: the agent is idle only now
    ]
    assert not agent.busy


async def test_queue_overflow_merges_into_last_waiting_text(
    make_agent: Factory, tmp_path: Path
) -> None:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    agent = make_agent(gated_script(fifo), max_queued=1)
    events = aiter(agent.events())
    await agent.submit("first")
    assert await next_event(events) == AssistantMessage("started first")
    await agent.submit("second")
    await agent.submit("third")  # queue full: merged into "second"
    await release(fifo)
    collected = [await next_event(events) for _ in range(4)]
    assert collected == [
        AssistantMessage("finished first"),
        AssistantMessage("started second||third"),
        AssistantMessage("finished second||third"),
        TaskComplete(),
    ]


async def test_failed_step_with_queued_steering_is_reported_and_continues(
    make_agent: Factory,
) -> None:
    agent = make_agent(
        script(
            """
            import sys
            print("ran", sys.argv[-1])
            sys.exit(1 if sys.argv[-1] == "bad" else 0)
            """
        )
    )
    # Queue the second text before the first run can finish: submit both at once.
    events = aiter(agent.events())
    await agent.submit("bad")
    await agent.submit("good")
    collected = [await next_event(events) for _ in range(4)]
    assert collected == [
        AssistantMessage("ran bad"),
        AssistantMessage("The previous step failed: the command exited with status 1. Continuing."),
        AssistantMessage("ran good"),
        TaskComplete(),
    ]


async def test_aclose_while_running_kills_and_reaps(make_agent: Factory) -> None:
    agent = make_agent(
        script(
            """
            import os, signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # forces the SIGKILL path
            print(os.getpid(), flush=True)
            print(flush=True)
            time.sleep(60)
            """
        ),
        kill_grace=0.3,
    )
    events = aiter(agent.events())
    await agent.submit("x")
    message = await next_event(events)
    assert isinstance(message, AssistantMessage)

    waiter = asyncio.create_task(anext(events, None))
    async with asyncio.timeout(5.0):
        await agent.aclose()
        assert await waiter is None  # events() ended
    assert not agent.busy
    assert_reaped(int(message.text))
    async with asyncio.timeout(5.0):
        await agent.aclose()  # idempotent
    with pytest.raises(AgentError):
        await agent.submit("more")


async def test_aclose_ends_idle_events_and_concurrent_close(make_agent: Factory) -> None:
    agent = make_agent(["true"])
    consumer = asyncio.create_task(anext(aiter(agent.events()), None))
    async with asyncio.timeout(5.0):
        await asyncio.gather(agent.aclose(), agent.aclose())
        assert await consumer is None


async def test_interrupt_kills_the_process_group_and_takes_the_next_task(
    make_agent: Factory,
) -> None:
    agent = make_agent(
        script(
            """
            import os, subprocess, sys, time
            if sys.argv[-1] == "next":
                print("next task ran")
                sys.exit(0)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            print(os.getpid(), child.pid, flush=True)
            print(flush=True)
            time.sleep(60)
            """
        ),
        kill_grace=2.0,
    )
    assert isinstance(agent, InterruptibleAgent)
    assert not await agent.interrupt()  # idle: nothing to stop
    events = aiter(agent.events())
    await agent.submit("first")
    await agent.submit("queued behind the first")  # dropped by the interrupt
    message = await next_event(events)
    assert isinstance(message, AssistantMessage)
    pids = [int(p) for p in message.text.split()]
    async with asyncio.timeout(WAIT):
        assert await agent.interrupt()
    assert await next_event(events) == TaskFailed(INTERRUPTED_MESSAGE)
    assert not agent.busy
    assert_reaped(pids[0])
    await wait_gone(pids[1], WAIT)  # the grandchild died with its group
    assert await run_task(agent, "next") == [AssistantMessage("next task ran"), TaskComplete()]

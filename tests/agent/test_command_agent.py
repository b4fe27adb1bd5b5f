"""CommandAgent with real subprocesses (``sys.executable -c ...`` scripts)."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from realtalk import AgentError, ConfigError
from realtalk.agent import (
    INTERRUPTED_MESSAGE,
    OUTPUT_TRUNCATED_MARKER,
    AgentEvent,
    AssistantMessage,
    BackgroundAgent,
    CommandAgent,
    InterruptibleAgent,
    TaskComplete,
    TaskFailed,
)
from tests._procs import wait_gone

Factory = Callable[..., CommandAgent]
WAIT = 20.0  # generous upper bound for any single wait; tests normally take milliseconds


def script(source: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(source)]


@pytest.fixture
async def make_agent() -> AsyncIterator[Factory]:
    agents: list[CommandAgent] = []

    def factory(argv: list[str], **kwargs: Any) -> CommandAgent:
        agent = CommandAgent(argv, **kwargs)
        agents.append(agent)
        return agent

    yield factory
    for agent in agents:
        async with asyncio.timeout(WAIT):
            await agent.aclose()


async def next_event(events: AsyncIterator[AgentEvent]) -> AgentEvent:
    async with asyncio.timeout(WAIT):
        return await anext(events)


async def run_task(agent: CommandAgent, text: str) -> list[AgentEvent]:
    """Submit ``text`` and collect events up to and including the terminal one."""
    events = aiter(agent.events())
    await agent.submit(text)
    collected: list[AgentEvent] = []
    while not collected or not isinstance(collected[-1], TaskComplete | TaskFailed):
        collected.append(await next_event(events))
    return collected


def assert_reaped(pid: int) -> None:
    # A zombie still answers signal 0; only a reaped process is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_is_a_background_agent() -> None:
    assert isinstance(CommandAgent(["true"]), BackgroundAgent)


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0}, {"output_cap_bytes": -1}, {"max_queued": 0}, {"input_mode": "file"}],
)
def test_bad_config_is_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CommandAgent(["true"], **kwargs)
    with pytest.raises(ConfigError):
        CommandAgent([])


async def test_stdout_is_grouped_into_messages(make_agent: Factory) -> None:
    agent = make_agent(
        script(
            r"""
            import sys
            sys.stdout.write("first line\nsecond line\n\n\n  \nmessage two\r\n\nlast, no newline")
            """
        )
    )
    assert await run_task(agent, "go") == [
        AssistantMessage("first line\nsecond line"),
        AssistantMessage("message two"),
        AssistantMessage("last, no newline"),
        TaskComplete(),
    ]
    assert not agent.busy


async def test_arg_mode_passes_text_as_last_argument(make_agent: Factory) -> None:
    agent = make_agent(script("import sys; print(repr(sys.argv[1:]))"), input_mode="arg")
    events = await run_task(agent, "fix <the> bug & test")
    assert events == [AssistantMessage("['fix <the> bug & test']"), TaskComplete()]


async def test_stdin_mode_writes_text_to_stdin(make_agent: Factory) -> None:
    agent = make_agent(
        script("import sys; print(len(sys.argv), sys.stdin.read().upper())"), input_mode="stdin"
    )
    text = "line one\nline two é" + "x" * 200_000  # larger than a pipe buffer
    events = await run_task(agent, text)
    assert events[-1] == TaskComplete()
    (message,) = events[:-1]
    assert isinstance(message, AssistantMessage)
    assert message.text == "1 LINE ONE\nLINE TWO É" + "X" * 200_000


async def test_stdin_mode_tolerates_command_that_ignores_stdin(make_agent: Factory) -> None:
    agent = make_agent(script("print('ok')"), input_mode="stdin")
    assert await run_task(agent, "y" * 500_000) == [AssistantMessage("ok"), TaskComplete()]


async def test_cwd_and_env_are_applied(make_agent: Factory, tmp_path: Path) -> None:
    agent = make_agent(
        script("import os; print(os.getcwd()); print(os.environ['REALTALK_TEST_VAR'])"),
        cwd=tmp_path,
        env={"REALTALK_TEST_VAR": "set"},
    )
    events = await run_task(agent, "x")
    assert events == [AssistantMessage(f"{tmp_path}\nset"), TaskComplete()]


async def test_non_zero_exit_is_task_failed_with_stderr_detail(make_agent: Factory) -> None:
    agent = make_agent(
        script(
            """
            import sys
            print("partial work")
            print("Traceback...\\nValueError: bad input\\n", file=sys.stderr)
            sys.exit(3)
            """
        )
    )
    events = await run_task(agent, "x")
    assert events[0] == AssistantMessage("partial work")
    assert events[1] == TaskFailed("the command exited with status 3: ValueError: bad input")
    assert len(events) == 2


async def test_spawn_failure_is_task_failed(make_agent: Factory, tmp_path: Path) -> None:
    agent = make_agent([str(tmp_path / "no-such-program")])
    events = await run_task(agent, "x")
    assert len(events) == 1
    failed = events[0]
    assert isinstance(failed, TaskFailed)
    assert "could not be started" in failed.message
    assert not agent.busy


async def test_timeout_kills_process_and_fails(make_agent: Factory) -> None:
    agent = make_agent(
        script(
            """
            import os, time
            print(os.getpid(), flush=True)
            time.sleep(60)
            """
        ),
        timeout=2.0,  # ample time to print the pid first, even on a loaded machine
        kill_grace=5.0,
    )
    events = await run_task(agent, "x")
    assert events[-1] == TaskFailed("the command timed out after 2 seconds")
    (message,) = events[:-1]
    assert isinstance(message, AssistantMessage)
    assert_reaped(int(message.text))


async def test_timeout_with_grandchild_holding_stdout_does_not_hang(make_agent: Factory) -> None:
    agent = make_agent(
        script(
            """
            import subprocess, sys, time
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            time.sleep(60)
            """
        ),
        timeout=0.5,
        kill_grace=5.0,
    )
    async with asyncio.timeout(10.0):  # well below the grandchild's 60 s
        events = await run_task(agent, "x")
    assert events == [TaskFailed("the command timed out after 0.5 seconds")]


async def test_output_cap_truncates_with_marker(make_agent: Factory) -> None:
    agent = make_agent(
        script(
            """
            for n in range(5000):
                print(f"line {n:05d}")
            """
        ),
        output_cap_bytes=100,
    )
    events = await run_task(agent, "x")
    assert events[-1] == TaskComplete()
    (message,) = events[:-1]
    assert isinstance(message, AssistantMessage)
    lines = message.text.split("\n")
    assert lines[-1] == OUTPUT_TRUNCATED_MARKER
    body = "\n".join(lines[:-1])
    assert len(body.encode()) <= 100
    assert lines[0] == "line 00000"
    assert "line 04999" not in message.text


async def test_output_exactly_at_cap_is_not_marked(make_agent: Factory) -> None:
    agent = make_agent(script("print('abcd')"), output_cap_bytes=5)
    assert await run_task(agent, "x") == [AssistantMessage("abcd"), TaskComplete()]


async def test_small_event_queue_applies_back_pressure(make_agent: Factory) -> None:
    agent = make_agent(
        script(
            """
            for n in range(30):
                print(f"message {n}\\n")
            """
        ),
        events_maxsize=1,
    )
    events = await run_task(agent, "x")
    assert events == [AssistantMessage(f"message {n}") for n in range(30)] + [TaskComplete()]


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

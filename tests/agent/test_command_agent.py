"""CommandAgent with real subprocesses (``sys.executable -c ...`` scripts).

Steering, closing and interrupting are test_command_agent_tasks.py's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from realtalk import ConfigError
from realtalk.agent import (
    OUTPUT_TRUNCATED_MARKER,
    AssistantMessage,
    BackgroundAgent,
    CommandAgent,
    TaskComplete,
    TaskFailed,
)

from ._command_support import Factory, assert_reaped, run_task, script


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

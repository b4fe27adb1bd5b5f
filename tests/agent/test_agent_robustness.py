"""Agent robustness: odd files, raising tools, lingering children, cancelled closes.

Real subprocesses, FIFOs and loopback sockets (the Responses emulator) throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from realtalk import AgentError
from realtalk.agent import (
    AgentEvent,
    AssistantMessage,
    CommandAgent,
    ModelClient,
    ResponsesAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.agent._responses_agent import FAILED_OUTPUT
from realtalk.agent._tools import ToolRunner, run_argv
from realtalk.protocol.responses import FunctionCall, PreconnectState

from ._responses_support import (
    API_KEY,
    WAIT_S,
    client_options,
    responses_server,
    until_done,
)

GONE_WAIT_S = 2.0
"""Longest wait for a killed process to be gone (it takes milliseconds)."""
TIMEOUT_S = 5.0
"""Command timeout in the lingering-child tests: they must finish far sooner."""

# A background child that keeps the command's stdout (and stderr) open, and one
# that closed them; each prints the child's pid.
HOLDS_OUTPUT = "sleep 30 & echo $!; exit 3"
CLOSED_OUTPUT = "sleep 30 </dev/null >/dev/null 2>&1 & echo $!; exit 3"


def tools(workspace: Path) -> ToolRunner:
    return ToolRunner(
        workspace=workspace, enable_shell=True, shell_timeout_s=TIMEOUT_S, output_cap_bytes=1024
    )


def read(path: str) -> FunctionCall:
    return FunctionCall("c1", "read_file", msgspec.json.encode({"path": path}).decode())


async def wait_gone(pid: int) -> bool:
    """True once ``pid`` has exited (zombie or reaped); False if it still runs."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    exited = asyncio.Event()
    loop.add_reader(pidfd, exited.set)  # a pidfd is readable once the process exited
    try:
        async with asyncio.timeout(GONE_WAIT_S):
            await exited.wait()
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return True


def kill_leftover(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# -- read_file ------------------------------------------------------------------------------


async def test_read_file_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    try:
        async with asyncio.timeout(WAIT_S):
            out = await tools(tmp_path).run(read("pipe"))
        assert out == "error: 'pipe' is not a regular file"
    finally:
        # Without the fix a worker thread sits in open(): give it a writer to return.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


async def test_read_file_bad_paths_are_error_outputs(tmp_path: Path) -> None:
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    runner = tools(tmp_path)
    out = await runner.run(read("a\x00b"))
    assert out.startswith("error: cannot read 'a\\x00b':")
    assert (await runner.run(read("loop_a"))).startswith("error: cannot read 'loop_a':")
    assert await runner.run(read(".")) == "error: '.' is a directory"
    (tmp_path / "ok.txt").write_text("fine")
    assert await runner.run(read("ok.txt")) == "fine"


# -- the tool loop keeps the thread valid -----------------------------------------------------


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot describe this error")


class _RaisingTools(ToolRunner):
    def __init__(self, workspace: Path, error: Exception) -> None:
        super().__init__(
            workspace=workspace, enable_shell=True, shell_timeout_s=1.0, output_cap_bytes=64
        )
        self.error = error

    async def run(self, call: FunctionCall) -> str:
        raise self.error


@contextlib.asynccontextmanager
async def raising_agent(
    base_url: str, workspace: Path, error: Exception
) -> AsyncIterator[ResponsesAgent]:
    client = ModelClient(base_url, api_key=API_KEY, options=client_options(stream_max_retries=0))
    agent = ResponsesAgent(client, workspace=workspace, model="test-model", instructions="help")
    agent._tools = _RaisingTools(workspace, error)  # a tool runner with a bug
    try:
        yield agent
    finally:
        await agent.aclose()


def open_calls(items: list[dict[str, object]]) -> set[object]:
    calls = {i.get("call_id") for i in items if i.get("type") == "function_call"}
    answered = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
    return calls - answered


async def test_a_raising_tool_becomes_an_error_output(tmp_path: Path) -> None:
    async with (
        responses_server() as (emu, base),
        raising_agent(base, tmp_path, ValueError("embedded null byte")) as agent,
    ):
        await agent.submit("run `echo hi`")
        events = await until_done(agent)
        assert events == [
            AssistantMessage("I ran `echo hi`. It printed: error: ValueError: embedded null byte"),
            TaskComplete(),
        ]
        assert open_calls(agent.history) == set()


async def test_a_failed_turn_answers_its_open_calls(tmp_path: Path) -> None:
    # An exception whose text cannot even be made fails the turn with the call open.
    async with (
        responses_server() as (emu, base),
        raising_agent(base, tmp_path, _Unprintable()) as agent,
    ):
        await agent.submit("run `echo hi`")
        (failed,) = await until_done(agent)
        assert isinstance(failed, TaskFailed)
        assert failed.message.startswith("The background agent failed: internal error")
        assert agent.history[-1]["output"] == FAILED_OUTPUT
        assert open_calls(agent.history) == set()
        await agent.submit("hello")
        assert await until_done(agent) == [AssistantMessage("You said: hello"), TaskComplete()]
        assert open_calls(emu.requests[-1].body["input"]) == set()


# -- commands that leave a background child -------------------------------------------------


@pytest.mark.parametrize("shell_script", [HOLDS_OUTPUT, CLOSED_OUTPUT])
async def test_shell_returns_at_exit_and_kills_a_lingering_child(
    tmp_path: Path, shell_script: str
) -> None:
    out = await run_argv(["sh", "-c", shell_script], cwd=tmp_path, timeout_s=TIMEOUT_S, cap=1024)
    head, _, output = out.partition("\nOutput:\n")
    assert head.startswith("Exit code: 3\n"), out  # the real status, not a timeout
    pid = int(output)
    try:
        assert await wait_gone(pid), "the background child survived the call"
    finally:
        kill_leftover(pid)


async def run_task(agent: CommandAgent, text: str) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    stream = aiter(agent.events())
    await agent.submit(text)
    async with asyncio.timeout(WAIT_S * 2):
        while not events or not isinstance(events[-1], TaskComplete | TaskFailed):
            events.append(await anext(stream))
    return events


@pytest.mark.parametrize("shell_script", [HOLDS_OUTPUT, CLOSED_OUTPUT])
async def test_command_agent_ends_at_exit_and_kills_a_lingering_child(shell_script: str) -> None:
    agent = CommandAgent(["sh", "-c", shell_script], timeout=TIMEOUT_S, kill_grace=1.0)
    try:
        events = await run_task(agent, "ignored")
        (message, end) = events
        assert end == TaskFailed("the command exited with status 3")
        assert isinstance(message, AssistantMessage)
        pid = int(message.text)
        try:
            assert await wait_gone(pid), "the background child survived the run"
        finally:
            kill_leftover(pid)
    finally:
        async with asyncio.timeout(WAIT_S):
            await agent.aclose()


# -- cancelled closes ------------------------------------------------------------------------


async def test_cancelled_command_agent_aclose_propagates_and_retry_finishes() -> None:
    source = """
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping takes the whole grace
        print(os.getpid(), flush=True)
        print(flush=True)  # a blank line ends the message
        time.sleep(60)
    """
    agent = CommandAgent([sys.executable, "-c", textwrap.dedent(source)], kill_grace=1.0)
    events = aiter(agent.events())
    await agent.submit("x")
    async with asyncio.timeout(WAIT_S):
        message = await anext(events)
    assert isinstance(message, AssistantMessage)
    pid = int(message.text)
    try:
        closer = asyncio.create_task(agent.aclose())
        await asyncio.sleep(0)  # one step: aclose now waits for the command to stop
        assert not closer.done()
        closer.cancel()
        await asyncio.wait({closer}, timeout=WAIT_S)
        assert closer.cancelled(), "aclose swallowed the caller's cancellation"
        async with asyncio.timeout(WAIT_S):
            await agent.aclose()  # waits for the stop that is still under way
            assert await anext(events, None) is None
        assert not agent.busy
        assert await wait_gone(pid)
    finally:
        kill_leftover(pid)


async def test_cancelled_responses_agent_aclose_still_closes_the_client(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "gate")
    async with responses_server() as (emu, base):
        client = ModelClient(base, api_key=API_KEY, options=client_options())
        agent = ResponsesAgent(client, workspace=tmp_path, model="test-model", instructions="i")
        try:
            await agent.submit("run `cat gate`")  # the turn then blocks in the tool
            assert await emu.wait_for_requests(1, WAIT_S)
            closer = asyncio.create_task(agent.aclose())
            await asyncio.sleep(0)  # one step: aclose now waits for the turn to stop
            assert not closer.done()
            closer.cancel()
            await asyncio.wait({closer}, timeout=WAIT_S)
            assert closer.cancelled()
            with pytest.raises(AgentError, match="closed"):
                client.new_session()  # the client was closed all the same
            async with asyncio.timeout(WAIT_S):
                await agent.aclose()
            assert [e async for e in agent.events()] == []
            assert not client._tasks
        finally:
            async with asyncio.timeout(WAIT_S):
                await agent.aclose()


async def test_cancelled_model_client_aclose_still_closes_http_and_retry_finishes() -> None:
    async with responses_server() as (emu, base):
        client = ModelClient(base, api_key=API_KEY, options=client_options())
        try:
            await client.pre_establish_connection()
            assert await client.wait_for_preconnect(WAIT_S)
            http = client._http_session()
            closer = asyncio.create_task(client.aclose())
            await asyncio.sleep(0)  # one step: aclose now waits for the warmed socket's close
            assert not closer.done()
            closer.cancel()
            await asyncio.wait({closer}, timeout=WAIT_S)
            assert closer.cancelled()
            assert http.closed
            async with asyncio.timeout(WAIT_S):
                await client.aclose()
            assert not client._tasks
            assert client.preconnect_state is PreconnectState.IDLE
        finally:
            async with asyncio.timeout(WAIT_S):
                await client.aclose()

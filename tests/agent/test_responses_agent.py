"""ResponsesAgent end to end against the Responses emulator, and its tools."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
import pytest

from realtalk import AgentError, ConfigError
from realtalk.agent import (
    AssistantMessage,
    BackgroundAgent,
    CommandFinished,
    CommandOutput,
    CommandStarted,
    ModelClient,
    ResponsesAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.agent._tools import SHELL_DISABLED_OUTPUT, ToolRunner
from realtalk.emulator import ResponsesEmulator, ResponsesOptions
from realtalk.emulator._responses import scripted_reply
from realtalk.protocol.responses import FunctionCall, message_text, user_message

from .._sandboxed_python import SANDBOXED_PYTHON
from ._responses_support import (
    API_KEY,
    SHELL_TOOL,
    WAIT_S,
    agent_at,
    responses_server,
    until_done,
)


def tool_outputs(emu: ResponsesEmulator) -> list[str]:
    return [
        item["output"]
        for request in emu.requests
        for item in request.body["input"]
        if item.get("type") == "function_call_output"
    ]


async def test_shell_tool_call_end_to_end(tmp_path: Path) -> None:
    async with responses_server() as (emu, base), agent_at(base, tmp_path) as agent:
        assert isinstance(agent, BackgroundAgent)
        await agent.start()
        assert await emu.wait_for_handshakes(1, WAIT_S)
        await agent.submit("please run `echo hi there`")
        assert agent.busy
        events = await until_done(agent, tools=True)
        argv = ["echo", "hi", "there"]
        assert events == [
            CommandStarted("call_1", argv, str(tmp_path), "workspace-write"),
            CommandOutput("call_1", "hi there"),
            CommandFinished("call_1", argv, 0, "hi there\n", "completed"),
            AssistantMessage("I ran `echo hi there`. It printed: hi there"),
            TaskComplete(),
        ]
        assert not agent.busy
        # One preconnected socket carried both requests of the turn.
        assert (emu.stats.handshakes, emu.stats.websocket_requests) == (1, 2)
        first, second = (r.body for r in emu.requests)
        assert [t["name"] for t in first["tools"]] == ["shell", "read_file", "apply_patch"]
        assert second["previous_response_id"] == "resp-1"
        (output,) = tool_outputs(emu)
        assert output.startswith("Exit code: 0\n") and output.endswith("Output:\nhi there\n")


async def test_steering_reaches_the_running_turn(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    async with responses_server() as (emu, base), agent_at(base, tmp_path) as agent:
        await agent.submit("run `cat gate`")
        # The turn now blocks in `cat` until the gate is written.
        assert await emu.wait_for_requests(1, WAIT_S)
        assert agent.busy
        await agent.submit("also say goodbye")
        async with asyncio.timeout(WAIT_S):
            await asyncio.to_thread(gate.write_text, "opened\n")
        events = await until_done(agent)
        assert events[-1] == TaskComplete()
        second = emu.requests[1].body["input"]
        kinds = [item["type"] for item in second]
        assert kinds == ["function_call", "function_call_output", "message"]
        assert "opened" in second[1]["output"]
        assert message_text(second[2], role="user") == "also say goodbye"
        assert events[0] == AssistantMessage("You said: also say goodbye")


async def test_disabled_shell_is_not_advertised_and_calls_fail(tmp_path: Path) -> None:
    async with (
        responses_server() as (emu, base),
        agent_at(base, tmp_path, enable_shell=False) as agent,
    ):
        await agent.submit("run `touch created`")
        events = await until_done(agent)
        assert events[-1] == TaskComplete()
        assert [t["name"] for t in emu.requests[0].body["tools"]] == ["read_file", "apply_patch"]
        # The model only calls declared tools, so it answers in words.
        assert events[0] == AssistantMessage("You said: run `touch created`")
        assert tool_outputs(emu) == []
    # A model that calls the undeclared shell anyway gets an error output, and nothing runs.
    runner = ToolRunner(
        workspace=tmp_path, enable_shell=False, shell_timeout_s=5, output_cap_bytes=1024
    )
    refused = await runner.run(FunctionCall("call_1", "shell", '{"command": ["touch", "created"]}'))
    assert refused == SHELL_DISABLED_OUTPUT
    assert not (tmp_path / "created").exists()


async def test_second_task_continues_the_thread(tmp_path: Path) -> None:
    async with responses_server() as (emu, base), agent_at(base, tmp_path) as agent:
        await agent.submit("hello")
        assert await until_done(agent) == [AssistantMessage("You said: hello"), TaskComplete()]
        await agent.submit("again")
        assert await until_done(agent) == [AssistantMessage("You said: again"), TaskComplete()]
        last = emu.requests[-1].body
        assert "previous_response_id" not in last  # a new turn: new session, full request
        assert [message_text(i) for i in last["input"]] == [
            "hello",
            "You said: hello",
            "again",
        ]
        assert len(agent.history) == 4


async def test_model_failure_becomes_task_failed(tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with agent_at(f"http://127.0.0.1:{port}/v1", tmp_path) as agent:
        await agent.submit("hello")
        (event,) = await until_done(agent)
        assert isinstance(event, TaskFailed)
        assert event.message.startswith("The background agent failed: could not connect")
        assert len(event.message) < 260 and API_KEY not in event.message
        assert not agent.busy


async def test_aclose_cancels_a_running_turn_and_ends_events(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "gate")
    async with responses_server() as (emu, base), agent_at(base, tmp_path) as agent:
        await agent.submit("run `cat gate`")
        assert await emu.wait_for_requests(1, WAIT_S)
        await agent.aclose()
        await agent.aclose()
        assert not agent.busy
        assert [e async for e in agent.events()] == []
        with pytest.raises(AgentError, match="closed"):
            await agent.submit("more")


def test_bad_workspace_is_a_config_error(tmp_path: Path) -> None:
    client = ModelClient("http://127.0.0.1:1/v1", api_key="")
    with pytest.raises(ConfigError, match="workspace"):
        ResponsesAgent(client, workspace=tmp_path / "missing", model="m", instructions="i")


# -- tools --------------------------------------------------------------------------------


def runner(workspace: Path, **overrides: object) -> ToolRunner:
    values: dict[str, object] = {
        "workspace": workspace,
        "enable_shell": True,
        "shell_timeout_s": 5.0,
        "output_cap_bytes": 1024,
    }
    values.update(overrides)
    return ToolRunner(**values)  # type: ignore[arg-type]


def shell(*argv: str, **extra: object) -> FunctionCall:
    args = msgspec.json.encode({"command": list(argv), **extra}).decode()
    return FunctionCall("c1", "shell", args)


async def test_shell_runs_argv_without_a_shell_in_the_workspace(tmp_path: Path) -> None:
    out = await runner(tmp_path).run(shell("sh", "-c", "pwd; echo $0", "a;b"))
    assert out.startswith("Exit code: 0\n")
    resolved = await asyncio.to_thread(tmp_path.resolve)
    assert f"{resolved}\na;b\n" in out
    literal = await runner(tmp_path).run(shell("echo", "$(id)", "|", "x"))
    assert literal.endswith("Output:\n$(id) | x\n")


async def test_shell_rejects_strings_and_reports_failures(tmp_path: Path) -> None:
    tools = runner(tmp_path)
    assert "array of strings" in await tools.run(
        FunctionCall("c", "shell", '{"command":"ls; rm -rf /"}')
    )
    assert "not valid JSON" in await tools.run(FunctionCall("c", "shell", "{"))
    assert "could not start" in await tools.run(shell("definitely-not-a-program-xyz"))
    assert (await tools.run(shell("false"))).startswith("Exit code: 1\n")
    assert "unknown tool" in await tools.run(FunctionCall("c", "rm", "{}"))


async def test_shell_timeout_kills_the_command(tmp_path: Path) -> None:
    out = await runner(tmp_path, shell_timeout_s=0.3).run(shell("sleep", "30"))
    assert out.startswith("Command timed out after 0.3 seconds.")
    out = await runner(tmp_path).run(shell("sleep", "30", timeout_ms=200))
    assert out.startswith("Command timed out after 0.2 seconds.")


async def test_shell_output_is_capped(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('x' * 5000)"
    out = await runner(tmp_path, output_cap_bytes=100).run(shell(SANDBOXED_PYTHON, "-c", code))
    assert out.startswith("Exit code: 0\n")
    assert "x" * 100 + "\n[output truncated: 4900 more bytes]" in out


async def test_read_file_is_confined_to_the_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    (workspace / "link").symlink_to(tmp_path / "secret.txt")
    tools = runner(workspace, output_cap_bytes=4)

    def read(path: str) -> FunctionCall:
        return FunctionCall("c", "read_file", msgspec.json.encode({"path": path}).decode())

    assert await tools.run(read("notes.txt")) == "insi\n[file truncated]"
    for escape in ("../secret.txt", str(tmp_path / "secret.txt"), "link"):
        assert "outside the workspace" in await tools.run(read(escape))
    assert "cannot read" in await tools.run(read("missing.txt"))
    assert "directory" in await tools.run(read("."))


# -- the scripted model -------------------------------------------------------------------


def test_scripted_reply() -> None:
    (call,) = scripted_reply(
        [user_message("please run `ls -la 'my dir'`")], serial="4", tools=[SHELL_TOOL]
    )
    assert call["type"] == "function_call" and call["call_id"] == "call_4"
    assert msgspec.json.decode(call["arguments"]) == {"command": ["ls", "-la", "my dir"]}
    (answer,) = scripted_reply([user_message("hi")])
    assert message_text(answer, role="assistant") == "You said: hi"
    (answer,) = scripted_reply([user_message("run `unbalanced 'quote`")], tools=[SHELL_TOOL])
    assert message_text(answer, role="assistant") == "You said: run `unbalanced 'quote`"


def test_emulator_options_defaults() -> None:
    assert ResponsesOptions() == ResponsesOptions(
        handshake_latency_ms=0,
        refuse_upgrade_426=False,
        close_before_completed=False,
        close_after_completed=False,
        fail_handshakes=0,
    )

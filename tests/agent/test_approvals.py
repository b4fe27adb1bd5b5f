"""Approvals for commands (policies, escalation, session approval, cancel) and the
agent's event-stream questions (ApprovalRequested -> answer_approval)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from realtalk.agent import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalRequested,
    ApprovalResolved,
    ApprovingAgent,
    CommandFinished,
    PatchApplied,
    SafetyOptions,
    TaskComplete,
    fixed_approver,
)
from realtalk.agent._approval import is_known_safe
from realtalk.agent._interface import AgentEvent
from realtalk.agent._tools import ApprovalCancelledError, ToolRunner
from realtalk.protocol.responses import FunctionCall

from .._sandboxed_python import SANDBOXED_PYTHON
from ._responses_support import agent_at, responses_server, until_done


class Asker:
    def __init__(self, answer: ApprovalDecision) -> None:
        self.answer = answer
        self.questions: list[ApprovalRequest] = []
        self.events: list[AgentEvent] = []

    async def __call__(self, request: ApprovalRequest) -> ApprovalDecision:
        self.questions.append(request)
        return self.answer

    async def emit(self, event: AgentEvent) -> None:
        self.events.append(event)


def runner(ws: Path, asker: Asker, approval: ApprovalPolicy) -> ToolRunner:
    return ToolRunner(
        workspace=ws,
        enable_shell=True,
        shell_timeout_s=30,
        output_cap_bytes=64 * 1024,
        safety=SafetyOptions(approval=approval),
        ask=asker,
        emit=asker.emit,
    )


def shell(argv: list[str], **extra: str) -> FunctionCall:
    return FunctionCall("call_s", "shell", msgspec.json.encode({"command": argv, **extra}).decode())


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def fetch(port: int) -> list[str]:
    code = f"import socket;print(socket.create_connection(('127.0.0.1',{port}),5).recv(9).decode())"
    return [SANDBOXED_PYTHON, "-c", code]


async def test_on_request_escalation_is_asked_and_runs_outside_the_sandbox(
    tmp_path: Path, port: int
) -> None:
    ask = Asker(ApprovalDecision.ACCEPT)
    tools = runner(tmp_path, ask, ApprovalPolicy.ON_REQUEST)
    # Without escalation: no question, and the sandbox has no network.
    out = await tools.run(shell(fetch(port)))
    assert ask.questions == [] and "Exit code: 1" in out and "hello" not in out
    escalate = {
        "sandbox_permissions": "require_escalated",
        "justification": "It needs the network.",
    }
    out = await tools.run(shell(fetch(port), **escalate))
    assert out.startswith("Exit code: 0") and "hello" in out
    (question,) = ask.questions
    assert question.kind == "command" and question.reason == "It needs the network."
    assert question.question.startswith("May I run `")
    assert question.question.endswith("It needs the network.")
    ask.answer = ApprovalDecision.DECLINE
    out = await tools.run(shell(fetch(port), **escalate))
    assert out.startswith("declined: the user did not approve running")
    finished = [e for e in ask.events if isinstance(e, CommandFinished)]
    assert finished[-1].status == "declined" and finished[-1].exit_code is None


async def test_never_and_untrusted_refuse_escalation_requests(tmp_path: Path) -> None:
    for policy in (ApprovalPolicy.NEVER, ApprovalPolicy.UNTRUSTED):
        ask = Asker(ApprovalDecision.ACCEPT)
        out = await runner(tmp_path, ask, policy).run(
            shell(["true"], sandbox_permissions="require_escalated")
        )
        assert out == (
            f"approval policy is {policy.value}; reject command — you should not ask for "
            f"escalated permissions if the approval policy is {policy.value}"
        )
        assert ask.questions == []


async def test_untrusted_asks_before_commands_that_may_change_things(tmp_path: Path) -> None:
    ask = Asker(ApprovalDecision.ACCEPT_FOR_SESSION)
    tools = runner(tmp_path, ask, ApprovalPolicy.UNTRUSTED)
    assert (await tools.run(shell(["ls"]))).startswith("Exit code: 0")
    assert ask.questions == []
    assert (await tools.run(shell(["touch", "a"]))).startswith("Exit code: 0")
    assert (await tools.run(shell(["touch", "a"]))).startswith("Exit code: 0")
    assert len(ask.questions) == 1  # approved for the session
    ask.answer = ApprovalDecision.DECLINE
    out = await tools.run(shell(["touch", "b"]))
    assert out.startswith("declined:") and not (tmp_path / "b").exists()
    ask.answer = ApprovalDecision.CANCEL
    with pytest.raises(ApprovalCancelledError):
        await tools.run(shell(["touch", "c"]))


async def test_untrusted_offers_an_unsandboxed_retry_after_a_sandbox_denial(
    tmp_path: Path, port: int
) -> None:
    ask = Asker(ApprovalDecision.ACCEPT)
    tools = runner(tmp_path, ask, ApprovalPolicy.UNTRUSTED)
    out = await tools.run(shell(fetch(port)))  # asked first (python is not known-safe)
    assert out.startswith("Exit code: 0") and "hello" in out
    assert [q.reason for q in ask.questions] == [
        "The approval policy asks before every command that may change things.",
        "It failed inside the sandbox; it would run outside the sandbox.",
    ]


def test_known_safe_commands() -> None:
    assert is_known_safe(["ls", "-la"]) and is_known_safe(["git", "status"])
    assert is_known_safe(["/usr/bin/cat", "x"]) and is_known_safe(["find", ".", "-name", "x"])
    assert not is_known_safe(["find", ".", "-delete"])
    assert not is_known_safe(["git", "push"]) and not is_known_safe(["rm", "x"])
    assert not is_known_safe(["sort", "-o", "out"]) and not is_known_safe([])


OUTSIDE_PATCH = "agent, please *** Begin Patch\n*** Add File: ../outside.txt\n+x\n*** End Patch"


async def test_agent_asks_through_its_events_and_takes_the_answer(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    async with responses_server() as (_, base), agent_at(base, ws) as agent:
        assert isinstance(agent, ApprovingAgent)
        await agent.submit(OUTSIDE_PATCH)
        events: list[AgentEvent] = []
        async with asyncio.timeout(10):
            async for event in agent.events():
                events.append(event)
                if isinstance(event, ApprovalRequested):
                    assert agent.pending_approvals == [event.request.id]
                    assert not agent.answer_approval("approval_unknown", ApprovalDecision.ACCEPT)
                    assert agent.answer_approval(event.request.id, ApprovalDecision.ACCEPT)
                if isinstance(event, TaskComplete):
                    break
        requested = next(e for e in events if isinstance(e, ApprovalRequested))
        resolved = next(e for e in events if isinstance(e, ApprovalResolved))
        assert resolved.request_id == requested.request.id
        assert resolved.decision is ApprovalDecision.ACCEPT
        patch = next(e for e in events if isinstance(e, PatchApplied))
        assert patch.status == "completed"
        assert (tmp_path / "outside.txt").read_text() == "x\n"


async def test_unanswered_questions_are_declined_after_the_timeout(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    safety = SafetyOptions(approval_timeout_s=0.2)
    async with responses_server() as (_, base), agent_at(base, ws, safety=safety) as agent:
        await agent.submit(OUTSIDE_PATCH)
        events = await until_done(agent, tools=True)
        resolved = next(e for e in events if isinstance(e, ApprovalResolved))
        assert resolved.decision is ApprovalDecision.DECLINE
        assert not (tmp_path / "outside.txt").exists()


async def test_a_fixed_approver_answers_at_once(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    approver = fixed_approver(ApprovalDecision.DECLINE)
    async with responses_server() as (_, base), agent_at(base, ws, approver=approver) as agent:
        await agent.submit(OUTSIDE_PATCH)
        events = await until_done(agent, tools=True)
        patch = next(e for e in events if isinstance(e, PatchApplied))
        assert patch.status == "declined"
        assert events[-1] == TaskComplete()

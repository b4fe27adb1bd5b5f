"""ResponsesAgent streaming (AssistantDelta) and interrupt, against the Responses emulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from realtalk.agent import (
    INTERRUPTED_MESSAGE,
    AgentEvent,
    AssistantDelta,
    AssistantMessage,
    InterruptibleAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.agent._responses_agent import ABORTED_OUTPUT
from realtalk.agent._text_deltas import TextDeltaFilter
from realtalk.emulator import ResponsesOptions
from realtalk.protocol.responses import message_text

from ._responses_support import WAIT_S, agent_at, responses_server, until_done


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """A FIFO in the workspace that ``cat gate`` blocks on."""
    path = tmp_path / "gate"
    os.mkfifo(path)
    yield path
    # Release a test-side open or a tool still blocked on the FIFO after a failure.
    for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
        with contextlib.suppress(OSError):
            os.close(os.open(path, flags))


async def open_writer(path: Path) -> IO[str]:
    """Open the FIFO for writing: returns once the tool has opened it for reading."""
    async with asyncio.timeout(WAIT_S):
        return await asyncio.to_thread(path.open, "w")


def user_texts(items: list[dict[str, object]]) -> list[str | None]:
    return [message_text(i, role="user") for i in items if i.get("role") == "user"]


# -- deltas ---------------------------------------------------------------------------------


async def test_deltas_stream_in_order_and_make_up_the_message(tmp_path: Path) -> None:
    async with responses_server() as (_, base), agent_at(base, tmp_path) as agent:
        await agent.submit("tell me about the big blue sea")
        events = await until_done(agent, deltas=True)
    *deltas, message, end = events
    assert end == TaskComplete()
    assert message == AssistantMessage("You said: tell me about the big blue sea")
    assert len(deltas) > 1 and all(isinstance(d, AssistantDelta) for d in deltas)
    assert "".join(d.text for d in deltas if isinstance(d, AssistantDelta)) == message.text


async def test_tool_turn_streams_only_the_answer(tmp_path: Path) -> None:
    async with responses_server() as (_, base), agent_at(base, tmp_path) as agent:
        await agent.submit("run `echo streamed words here`")
        events = await until_done(agent, deltas=True)
    answer = "I ran `echo streamed words here`. It printed: streamed words here"
    assert events[-2:] == [AssistantMessage(answer), TaskComplete()]
    pieces = [e.text for e in events[:-2] if isinstance(e, AssistantDelta)]
    assert len(pieces) == len(events) - 2 and "".join(pieces) == answer


async def test_a_retried_request_does_not_repeat_streamed_text(tmp_path: Path) -> None:
    # Every attempt streams the text, then the stream ends before response.completed;
    # four attempts (two over WebSocket, two over HTTP) all fail.
    options = ResponsesOptions(close_before_completed=True)
    async with (
        responses_server(options) as (emu, base),
        agent_at(base, tmp_path, max_retries=1) as agent,
    ):
        await agent.submit("hello again")
        events = await until_done(agent, deltas=True)
        assert emu.stats.websocket_requests == 2 and emu.stats.http_requests == 2
    *deltas, end = events
    assert isinstance(end, TaskFailed)
    assert (
        "".join(d.text for d in deltas if isinstance(d, AssistantDelta)) == "You said: hello again"
    )


def test_delta_filter_replays_dedupes_and_stops_on_divergence() -> None:
    f = TextDeltaFilter()
    assert [f.feed(0, "ab"), f.feed(0, "cd"), f.feed(1, "other message")] == ["ab", "cd", ""]
    f.retry()
    # The new attempt repeats "abcd" in other pieces, then goes on.
    assert [f.feed(2, "a"), f.feed(2, "bc"), f.feed(2, "dEF"), f.feed(2, "G")] == [
        "",
        "",
        "EF",
        "G",
    ]
    assert f.shown == "abcdEFG"
    f.retry()
    assert [f.feed(0, "abX"), f.feed(0, "more")] == ["", ""]  # diverged: nothing more
    assert f.shown == "abcdEFG"
    f.retry()
    assert [f.feed(0, ""), f.feed(0, "abcdEFG"), f.feed(0, "H")] == ["", "", "H"]


# -- interrupt ------------------------------------------------------------------------------


async def test_interrupt_mid_response_drops_the_partial_answer(tmp_path: Path) -> None:
    answer = "You said: hello there big world"  # the emulator streams it in three pieces
    async with (
        responses_server() as (emu, base),
        agent_at(base, tmp_path, events_maxsize=1) as agent,
    ):
        assert isinstance(agent, InterruptibleAgent)
        assert not await agent.interrupt()  # idle: nothing to stop
        await agent.submit("hello there big world")
        events = agent.events()
        async with asyncio.timeout(WAIT_S):
            first = await anext(events)
        # A one-event queue read no further holds the turn inside the response: it
        # cannot pass on the third piece, so the response cannot complete.
        assert first == AssistantDelta("You said: ")
        assert await agent.interrupt()
        assert not agent.busy
        assert agent.history == emu.requests[0].body["input"]  # only the user input
        rest: list[AgentEvent] = []
        async with asyncio.timeout(WAIT_S):
            while not rest or not isinstance(rest[-1], TaskFailed):
                rest.append(await anext(events))
        assert rest[-1] == TaskFailed(INTERRUPTED_MESSAGE)
        streamed = first.text + "".join(e.text for e in rest if isinstance(e, AssistantDelta))
        assert len(rest) - 1 == sum(isinstance(e, AssistantDelta) for e in rest)
        assert answer.startswith(streamed) and streamed != answer
        await agent.submit("are you there")
        assert await until_done(agent) == [
            AssistantMessage("You said: are you there"),
            TaskComplete(),
        ]
        second = emu.requests[-1].body["input"]
        assert user_texts(second) == ["hello there big world", "are you there"]


async def test_interrupt_kills_the_tool_and_keeps_the_thread_valid(
    tmp_path: Path, gate: Path
) -> None:
    async with responses_server() as (emu, base), agent_at(base, tmp_path) as agent:
        await agent.submit("run `cat gate`")
        writer = await open_writer(gate)  # `cat` is running now
        try:
            await agent.submit("steer while it runs")
            assert await agent.interrupt()
            # The process group is gone: nobody reads the FIFO any more.
            with pytest.raises(BrokenPipeError):
                writer.write("late\n")
                writer.flush()
        finally:
            with contextlib.suppress(BrokenPipeError):
                writer.close()
        assert await until_done(agent) == [TaskFailed(INTERRUPTED_MESSAGE)]
        kinds = [(i["type"], i.get("role")) for i in agent.history]
        assert kinds == [
            ("message", "user"),
            ("function_call", None),
            ("function_call_output", None),
            ("message", "user"),
        ]
        assert agent.history[2]["output"] == ABORTED_OUTPUT
        assert agent.history[2]["call_id"] == agent.history[1]["call_id"]
        await agent.submit("what happened")
        assert (await until_done(agent))[-1] == TaskComplete()
        last = emu.requests[-1].body["input"]
        assert last[:4] == agent.history[:4]
        assert user_texts(last) == ["run `cat gate`", "steer while it runs", "what happened"]


async def test_interrupt_kills_every_process_of_the_sandboxed_command(
    tmp_path: Path, gate: Path
) -> None:
    # A command that leaves a child running in the background: the whole sandbox
    # (bubblewrap, the command and its child, in their own PID namespace) must die.
    second = tmp_path / "gate2"
    os.mkfifo(second)
    async with responses_server() as (_, base), agent_at(base, tmp_path) as agent:
        status = await agent.sandbox_status()
        assert status.available, status.reason  # the Makefile installs bubblewrap
        await agent.submit("run `sh -c 'cat gate2 & cat gate'`")
        writers = [await open_writer(second), await open_writer(gate)]  # both cats run
        try:
            assert await agent.interrupt()
            for writer in writers:  # nobody reads either FIFO any more
                with pytest.raises(BrokenPipeError):
                    writer.write("late\n")
                    writer.flush()
        finally:
            for writer in writers:
                with contextlib.suppress(BrokenPipeError):
                    writer.close()
        assert await until_done(agent) == [TaskFailed(INTERRUPTED_MESSAGE)]


async def test_the_task_limit_stops_a_long_command_and_fails_the_task(
    tmp_path: Path, gate: Path
) -> None:
    # The agent's own limit ([agent] timeout_s) governs its work, not the conversation.
    async with (
        responses_server() as (_, base),
        agent_at(base, tmp_path, task_timeout_s=0.5) as agent,
    ):
        await agent.submit("run `cat gate`")
        writer = await open_writer(gate)  # running; nothing will ever be written
        try:
            (end,) = await until_done(agent)
            with pytest.raises(BrokenPipeError):  # the command was killed
                writer.write("late\n")
                writer.flush()
        finally:
            with contextlib.suppress(BrokenPipeError):
                writer.close()
        assert end == TaskFailed(
            "The background agent failed: the task took longer than its limit of 0.5 s "
            "([agent] timeout_s) and was stopped"
        )
        await agent.submit("are you there")  # the agent takes the next task
        assert (await until_done(agent))[-1] == TaskComplete()


async def test_interrupt_before_the_turn_runs_sends_nothing(tmp_path: Path) -> None:
    async with responses_server() as (emu, base), agent_at(base, tmp_path) as agent:
        await agent.submit("never sent")
        assert await agent.interrupt()  # the turn's task has not run yet
        assert await until_done(agent) == [TaskFailed(INTERRUPTED_MESSAGE)]
        assert emu.stats.websocket_requests == 0
        await agent.submit("second")
        events: list[AgentEvent] = await until_done(agent)
        assert events == [AssistantMessage("You said: second"), TaskComplete()]
        (request,) = emu.requests
        assert user_texts(request.body["input"]) == ["never sent", "second"]


async def test_interrupt_while_connecting_then_continue(tmp_path: Path) -> None:
    # The emulator holds each WebSocket upgrade: the turn waits inside its request.
    options = ResponsesOptions(handshake_latency_ms=300)
    async with responses_server(options) as (emu, base), agent_at(base, tmp_path) as agent:
        await agent.submit("first words")
        assert await emu.wait_for_handshakes(1, WAIT_S)
        assert await agent.interrupt()
        assert await until_done(agent) == [TaskFailed(INTERRUPTED_MESSAGE)]
        await agent.submit("second words")
        assert (await until_done(agent))[-1] == TaskComplete()
        (request,) = emu.requests
        assert user_texts(request.body["input"]) == ["first words", "second words"]
        assert emu.stats.handshakes == 2


async def test_aclose_right_after_an_interrupt_ends_cleanly(tmp_path: Path) -> None:
    async with (
        responses_server() as (emu, base),
        agent_at(base, tmp_path, events_maxsize=1) as agent,
    ):
        await agent.submit("hello there big world")
        assert await emu.wait_for_requests(1, WAIT_S)
        # The turn may be waiting for room to report: aclose must not hang on it.
        assert await agent.interrupt()
        async with asyncio.timeout(WAIT_S):
            await agent.aclose()
            left = [e async for e in agent.events()]
        assert not await agent.interrupt()
        assert not any(isinstance(e, AssistantMessage | TaskComplete) for e in left)
        assert len(left) <= 1

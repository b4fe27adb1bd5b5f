"""A running command's output reaches UIs while it runs: bounded ``CommandOutput`` events."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from realtalk.agent import AgentEvent, CommandFinished, CommandOutput, CommandStarted
from realtalk.agent._output_tail import LINE_CHARS, TAIL_LINES, OutputTail

from ._responses_support import WAIT_S, agent_at, responses_server


class Recorder:
    def __init__(self) -> None:
        self.events: list[AgentEvent] = []
        self.got = asyncio.Event()

    async def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)
        self.got.set()

    def texts(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, CommandOutput)]


async def test_whole_lines_come_out_and_the_rest_at_the_end() -> None:
    emit = Recorder()
    async with OutputTail("call_1", emit) as tail:
        tail.feed(b"one\ntw")
        tail.feed(b"o\r\nthree")  # a partial line waits for its end
    assert "\n".join(emit.texts()).split("\n") == ["one", "two", "three"]


async def test_a_flood_is_a_bounded_tail() -> None:
    emit = Recorder()
    async with OutputTail("call_1", emit, interval_s=3600) as tail:
        tail.feed(b"first\n")
        async with asyncio.timeout(WAIT_S):
            await emit.got.wait()  # the first line goes out at once
        for n in range(10_000):
            tail.feed(f"line {n} ".encode() + b"x" * 1000 + b"\n")
    first, last = emit.texts()  # one event per interval, plus the rest at the end
    assert first == "first"
    lines = last.split("\n")
    assert len(lines) == TAIL_LINES and lines[-1].startswith("line 9999 ")
    assert all(len(line) == LINE_CHARS for line in lines)


async def test_progress_bars_utf8_and_secrets() -> None:
    emit = Recorder()
    secret = "sk-" + "A1b2C3d4" * 5
    snowman = "☃".encode()
    async with OutputTail("call_1", emit) as tail:
        tail.feed(b"10%\r50%\r100%\n")
        tail.feed(snowman[:1])
        tail.feed(snowman[1:] + b"\n")
        tail.feed(f"key={secret}\n".encode())
    text = "\n".join(emit.texts())
    assert text.split("\n")[:2] == ["100%", "☃"]
    assert secret not in text and "key=sk-" in text


async def test_the_agent_streams_a_running_commands_output(tmp_path: Path) -> None:
    """The first line is on the event stream while the command still waits for its gate."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    async with responses_server() as (_emu, base), agent_at(base, tmp_path) as agent:
        await agent.submit("run `sh -c 'echo started; cat gate; echo done'`")
        seen: list[AgentEvent] = []
        async with asyncio.timeout(WAIT_S):
            async for event in agent.events():
                seen.append(event)
                if isinstance(event, CommandOutput):
                    break
        assert isinstance(seen[0], CommandStarted)
        assert seen[-1] == CommandOutput(seen[0].call_id, "started")
        assert agent.busy  # the command is still blocked on the gate
        async with asyncio.timeout(WAIT_S):
            await asyncio.to_thread(gate.write_text, "opened\n")
            async for event in agent.events():
                seen.append(event)
                if isinstance(event, CommandFinished):
                    break
        streamed = "\n".join(e.text for e in seen if isinstance(e, CommandOutput))
        assert streamed == "started\nopened\ndone"
        finished = seen[-1]
        assert isinstance(finished, CommandFinished)
        assert finished.output == "started\nopened\ndone\n"

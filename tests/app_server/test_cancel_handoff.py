"""``thread/realtime/cancelHandoff``: cancel the running delegation from a client.

Against the emulator, with the thread's built-in agent running a real (sandboxed)
command, ``cat gate`` on a FIFO in the thread's workspace: opening the FIFO for writing
returns once the command runs, and writing to it fails once nobody reads it any more.
The model is told at once, the turn ends ``interrupted`` and the command is gone.
``turn/interrupt`` on the delegated turn ends the handoff the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from realtalk.app_server import AppServer, Client, RpcError
from realtalk.protocol import CANCELLED_OUTPUT, OutputModality

from .conftest import Backend, ClientFactory, start_realtime

TIMEOUT = 10.0


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """A FIFO in the thread's workspace (the server's default cwd) that `cat gate` reads."""
    path = tmp_path / "gate"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # release a test-side open after a failure
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))


async def _delegate_a_long_command(
    client: Client, backend: Backend, gate: Path
) -> tuple[str, str, int, IO[str]]:
    """A thread whose agent runs `cat gate`: (thread id, turn id, mark, the FIFO's writer)."""
    thread_id, _ = await start_realtime(client, backend, output_modality=OutputModality.TEXT)
    mark = client.notification_count
    await client.append_text(thread_id, "agent, run `cat gate`")
    await client.request_response(thread_id)
    started = await client.wait_for("turn/started", start=mark, timeout=TIMEOUT)
    async with asyncio.timeout(TIMEOUT):  # returns once `cat` opened it: the command runs
        writer = await asyncio.to_thread(gate.open, "w")
    return thread_id, started.params.turn.id, mark, writer


def _assert_nobody_reads(writer: IO[str]) -> None:
    try:
        with pytest.raises(BrokenPipeError):  # the sandboxed command is gone
            writer.write("late\n")
            writer.flush()
    finally:
        with contextlib.suppress(BrokenPipeError):
            writer.close()


async def test_cancel_handoff_stops_the_command_and_the_model_says_so(
    client: Client, backend: Backend, gate: Path
) -> None:
    thread_id, turn_id, mark, writer = await _delegate_a_long_command(client, backend, gate)
    assert await client.cancel_handoff(thread_id)
    done = await client.wait_for(
        "turn/completed", lambda p: p.turn.id == turn_id, start=mark, timeout=TIMEOUT
    )
    assert done.params.turn.status == "interrupted"
    said = await client.wait_for(
        "thread/realtime/transcript/done",
        lambda p: p.role == "assistant" and "cancelled" in p.text,
        start=mark,
        timeout=TIMEOUT,
    )
    assert said.params.text == "The background task was cancelled."
    _assert_nobody_reads(writer)
    record = backend.emulator.sessions[-1]
    outputs = [
        m["item"]["output"]
        for m in record.received
        if m.get("type") == "conversation.item.create"
        and m["item"]["type"] == "function_call_output"
    ]
    assert outputs == [CANCELLED_OUTPUT]
    assert not await client.cancel_handoff(thread_id)  # nothing runs any more


async def test_turn_interrupt_on_the_delegated_turn_cancels_the_handoff_too(
    client: Client, backend: Backend, gate: Path
) -> None:
    thread_id, turn_id, mark, writer = await _delegate_a_long_command(client, backend, gate)
    await client.turn_interrupt(thread_id, turn_id)
    said = await client.wait_for(
        "thread/realtime/transcript/done",
        lambda p: p.role == "assistant" and "cancelled" in p.text,
        start=mark,
        timeout=TIMEOUT,
    )
    assert said.params.text == "The background task was cancelled."
    _assert_nobody_reads(writer)
    assert not await client.cancel_handoff(thread_id)


async def test_cancel_handoff_without_a_conversation_is_false_and_a_notification(
    client: Client,
) -> None:
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    assert not await client.cancel_handoff(thread_id)
    error = await client.wait_for("thread/realtime/error", start=mark)
    assert error.params.message == "conversation is not running"


async def test_cancel_handoff_requires_experimental_api(
    server: AppServer, client_factory: ClientFactory
) -> None:
    stable = await client_factory(server.url, experimental=False)
    thread_id = (await stable.thread_start()).thread.id
    with pytest.raises(RpcError) as refused:
        await stable.cancel_handoff(thread_id)
    assert refused.value.code == -32600

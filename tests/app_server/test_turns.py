"""Threads and turns on the built-in agent (emulated Responses API), and steering."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtalk.agent import BackgroundAgent, ModelClient, ModelClientOptions, ResponsesAgent
from realtalk.app_server import (
    AgentMessageItem,
    AppServer,
    AppServerOptions,
    Client,
    RpcError,
    ThreadConfig,
    ThreadStartParams,
    UserMessageItem,
)
from realtalk.conversation import Settings
from realtalk.emulator import ResponsesOptions
from realtalk.protocol import STEERING_ACK

from .conftest import (
    TIMEOUT,
    Backend,
    BackendFactory,
    ClientFactory,
    ServerFactory,
    make_settings,
    start_realtime,
)


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO a shell tool blocks on (``cat``) until the test writes to it."""
    path = tmp_path / "gate.fifo"
    os.mkfifo(path)
    yield path
    # A failed test may leave a tool blocked reading, or a writer thread blocked
    # writing: open the other end of each without blocking to release them.
    for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
        with contextlib.suppress(OSError):
            os.close(os.open(path, flags))


async def release(path: Path) -> None:
    # Opening a FIFO for writing blocks until the reader (the tool) opens it.
    await asyncio.to_thread(path.write_text, "released\n")


async def test_thread_start_answers_then_notifies(client: Client, tmp_path: Path) -> None:
    work = tmp_path / "ws"
    work.mkdir()
    result = await client.thread_start(ThreadStartParams(cwd=str(work), model="agent-model"))
    assert result.cwd == str(work) and result.model == "agent-model"
    assert result.model_provider == "openai" and result.thread.id.startswith("thr_")
    started = await client.wait_for("thread/started")
    assert started.params.thread == result.thread
    with pytest.raises(RpcError, match="is not a directory"):
        await client.thread_start(ThreadStartParams(cwd=str(tmp_path / "missing")))


async def test_turn_streams_items_and_completes(client: Client, backend: Backend) -> None:
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    result = await client.turn_start(thread_id, "hello agent")
    assert result.turn.status == "inProgress" and result.turn.items == []
    completed = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    notes = client.notifications(start=mark)
    methods = [n.method for n in notes]
    deltas = methods.count("item/agentMessage/delta")
    assert deltas > 1  # the emulator streams the answer in pieces; each is its own delta
    assert methods == [
        "turn/started",
        "item/started",
        "item/completed",
        "item/started",
        *["item/agentMessage/delta"] * deltas,
        "item/completed",
        "turn/completed",
    ]
    assert all(n.params.thread_id == thread_id for n in notes)
    assert {n.params.turn.id if hasattr(n.params, "turn") else n.params.turn_id for n in notes} == {
        result.turn.id
    }
    user = notes[1].params.item
    assert isinstance(user, UserMessageItem) and user.content[0].text == "hello agent"
    started_item, done = notes[3].params.item, notes[-2].params.item
    pieces = [n.params for n in notes[4:-2]]
    assert isinstance(started_item, AgentMessageItem) and started_item.text == ""
    assert {p.item_id for p in pieces} == {started_item.id} and done.id == started_item.id
    assert "".join(p.delta for p in pieces) == done.text == "You said: hello agent"
    turn = completed.params.turn
    assert turn.status == "completed" and turn.error is None
    assert turn.items == [user, done]
    # The agent talked to the emulated Responses API with the thread's model.
    assert backend.responses.requests[-1].body["model"] == "gpt-5-codex"


def _user_text(item: dict[str, Any]) -> str:
    return "".join(part["text"] for part in item["content"])


async def test_turn_conflict_steer_and_interrupt(
    client: Client, backend: Backend, fifo: Path
) -> None:
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    turn_id = (await client.turn_start(thread_id, f"run `cat {fifo}`")).turn.id
    with pytest.raises(RpcError) as busy:
        await client.turn_start(thread_id, "another")
    assert busy.value.code == -32600 and "already has a turn in progress" in busy.value.rpc_message
    with pytest.raises(RpcError, match="expected turn nope"):
        await client.turn_steer(thread_id, "more", "nope")
    assert await client.turn_steer(thread_id, "more", turn_id) == turn_id
    with pytest.raises(RpcError, match="is not in progress"):
        await client.turn_interrupt(thread_id, "turn_other")
    # Opening the FIFO for writing returns once `cat` has it open: the tool runs.
    async with asyncio.timeout(TIMEOUT):
        writer = await asyncio.to_thread(fifo.open, "w")
    try:
        await client.turn_interrupt(thread_id, turn_id)
    finally:
        with contextlib.suppress(BrokenPipeError):
            writer.close()
    completed = await client.wait_for("turn/completed", start=mark)
    assert completed.params.turn.id == turn_id and completed.params.turn.status == "interrupted"
    assert completed.params.turn.error is None
    assert "error" not in [n.method for n in client.notifications(start=mark)]
    # The thread takes a new turn after the interrupt, and the agent kept its history.
    after = client.notification_count
    await client.turn_start(thread_id, "still there?")
    again = await client.wait_for("turn/completed", start=after, timeout=TIMEOUT)
    assert again.params.turn.status == "completed"
    last = backend.responses.requests[-1].body["input"]
    assert [_user_text(i) for i in last if i.get("role") == "user"] == [
        f"run `cat {fifo}`",
        "more",
        "still there?",
    ]
    calls = [i for i in last if i["type"] in ("function_call", "function_call_output")]
    assert [i["type"] for i in calls] == ["function_call", "function_call_output"]
    assert calls[0]["call_id"] == calls[1]["call_id"]
    assert calls[1]["output"].startswith("aborted")
    with pytest.raises(RpcError, match="has no turn in progress"):
        await client.turn_steer(thread_id, "late", again.params.turn.id)


async def test_interrupt_mid_request_keeps_the_thread(
    backend_factory: BackendFactory, server_factory: ServerFactory, client_factory: ClientFactory
) -> None:
    # The emulator holds every WebSocket upgrade, so the turn waits inside its request.
    backend = await backend_factory(responses=ResponsesOptions(handshake_latency_ms=300))
    server = await server_factory(make_settings(backend.base_url))
    client = await client_factory(server.url)
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    turn_id = (await client.turn_start(thread_id, "remember the number 42")).turn.id
    assert await backend.responses.wait_for_handshakes(1, TIMEOUT)
    await client.turn_interrupt(thread_id, turn_id)
    completed = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    turn = completed.params.turn
    assert turn.id == turn_id and turn.status == "interrupted"
    assert [type(i).__name__ for i in turn.items] == ["UserMessageItem"]
    assert backend.responses.requests == []  # the request never got out
    after = client.notification_count
    await client.turn_start(thread_id, "which number?")
    again = await client.wait_for("turn/completed", start=after, timeout=TIMEOUT)
    assert again.params.turn.status == "completed"
    (request,) = backend.responses.requests
    users = [_user_text(i) for i in request.body["input"] if i.get("role") == "user"]
    assert users == ["remember the number 42", "which number?"]


async def test_turn_failure_reports_error_then_failed_turn(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"

    def fast_failing_agent(settings: Settings, config: ThreadConfig) -> BackgroundAgent:
        options = ModelClientOptions(
            stream_max_retries=0, retry_base_delay_s=0.001, connect_timeout_s=2
        )
        client = ModelClient(
            settings.base_url, api_key="k", session_id=config.thread_id, options=options
        )
        return ResponsesAgent(client, workspace=config.cwd, model=config.model, instructions="i")

    server = AppServer(
        make_settings(dead),
        AppServerOptions(default_cwd=tmp_path, agent_factory=fast_failing_agent),
    )
    try:
        await server.start_websocket()
        client = await client_factory(server.url)
        thread_id = (await client.thread_start()).thread.id
        mark = client.notification_count
        turn_id = (await client.turn_start(thread_id, "hello")).turn.id
        completed = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
        turn = completed.params.turn
        assert turn.id == turn_id and turn.status == "failed"
        assert turn.error is not None and turn.error.message.startswith(
            "The background agent failed"
        )
        error = await client.wait_for("error", start=mark)
        assert error.params.turn_id == turn_id and error.params.error == turn.error
        methods = [n.method for n in client.notifications(start=mark)]
        assert methods.index("error") < methods.index("turn/completed")
    finally:
        await server.aclose()


async def test_realtime_steering_ack_requests_response_create(
    client: Client, backend: Backend, fifo: Path
) -> None:
    thread_id, record = await start_realtime(client, backend)
    mark = client.notification_count

    def call(call_id: str, prompt: str) -> dict[str, Any]:
        arguments = '{"prompt":"' + prompt + '"}'
        return {
            "type": "conversation.item.done",
            "item": {
                "id": f"item_{call_id}",
                "type": "function_call",
                "name": "background_agent",
                "call_id": call_id,
                "arguments": arguments,
            },
        }

    await record.send_event(call("call_1", f"run `cat {fifo}`"))
    await client.wait_for("turn/started", start=mark)
    await record.send_event(call("call_2", "also mention the weather"))
    ack = await record.wait_for_message(
        lambda m: (
            m.get("type") == "conversation.item.create" and m["item"].get("call_id") == "call_2"
        )
    )
    assert ack["item"] == {
        "type": "function_call_output",
        "call_id": "call_2",
        "output": STEERING_ACK,
    }
    index = record.received.index(ack)
    await record.wait_for_message(
        lambda m: m.get("type") == "response.create" and record.received.index(m) > index
    )
    await release(fifo)
    completed = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    assert completed.params.turn.status == "completed"
    # One turn only: the second call steered the running one.
    assert len(client.notifications("turn/started", start=mark)) == 1
    assert completed.params.thread_id == thread_id
    inputs = [
        item
        for request in backend.responses.requests
        for item in request.body.get("input", [])
        if item.get("role") == "user"
    ]
    assert any("also mention the weather" in str(item) for item in inputs)


async def test_opted_out_notifications_are_not_sent(server: AppServer) -> None:
    async with await Client.connect(server.url) as client:
        await client.initialize(
            "quiet", opt_out_notification_methods=["item/agentMessage/delta", "nope/x"]
        )
        thread_id = (await client.thread_start()).thread.id
        await client.turn_start(thread_id, "hello")
        await client.wait_for("turn/completed", timeout=TIMEOUT)
        methods = {n.method for n in client.notifications()}
        assert "item/agentMessage/delta" not in methods
        assert {"thread/started", "turn/started", "item/completed"} <= methods


async def test_handler_crash_is_an_internal_error_and_the_connection_survives(
    backend: Backend, client_factory: ClientFactory, tmp_path: Path
) -> None:
    def broken_agent(settings: Settings, config: ThreadConfig) -> BackgroundAgent:
        raise RuntimeError("agent factory exploded")

    server = AppServer(
        make_settings(backend.base_url),
        AppServerOptions(default_cwd=tmp_path, agent_factory=broken_agent),
    )
    try:
        await server.start_websocket()
        client = await client_factory(server.url)
        with pytest.raises(RpcError) as crashed:
            await client.thread_start()
        assert crashed.value.code == -32603
        assert crashed.value.rpc_message == "Internal error: RuntimeError: agent factory exploded"
        assert (await client.list_voices()).default_v1 == "cove"
    finally:
        await server.aclose()

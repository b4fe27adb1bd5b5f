"""``realtalk app-server`` as a real subprocess on stdio: framing, bad input, realtime."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from realtalk.app_server import Client, RpcError
from realtalk.protocol import MAX_MESSAGE_BYTES, OutputModality

from .conftest import API_KEY, TIMEOUT, Backend

Spawn = Callable[..., Awaitable[Client]]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    clients: list[Client] = []

    async def make(base_url: str = "http://127.0.0.1:9/v1") -> Client:
        env = {
            **os.environ,
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": base_url,
            "REALTALK_STARTUP_CONTEXT": "",
        }
        client = await Client.spawn(env=env, cwd=str(tmp_path))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _error_after(client: Client, data: bytes | str) -> tuple[int, str]:
    """Send ``data`` and return the (code, message) of the null-id error it caused."""
    before = len(client.unmatched)
    await client.send_raw(data)
    await client.wait_for_unmatched(before + 1, timeout=TIMEOUT)
    error = client.unmatched[before]
    return error.code, error.message


async def test_malformed_input_gets_errors_and_the_connection_survives(spawn: Spawn) -> None:
    client = await spawn()
    code, message = await _error_after(client, b"this is not json")
    assert code == -32700 and message.startswith("Parse error: JSON is malformed")
    code, message = await _error_after(client, b"\xff\xfe\x00garbage")
    assert code == -32700
    code, message = await _error_after(client, b'{"id": true, "method": "initialize"}')
    assert code == -32600 and "`id`" in message
    code, message = await _error_after(client, b"[1, 2, 3]")
    assert code == -32600 and "batch" in message
    # Requests before initialize.
    with pytest.raises(RpcError) as early:
        await client.thread_start()
    assert (early.value.code, early.value.rpc_message) == (-32600, "Not initialized")
    with pytest.raises(RpcError) as unknown:
        await client.request_raw("no/such/method")
    assert (unknown.value.code, unknown.value.rpc_message) == (
        -32601,
        "Method not found: no/such/method",
    )
    # Invalid clientInfo.name and wrong param types.
    with pytest.raises(RpcError) as bad_name:
        await client.initialize("bad\rname")
    assert bad_name.value.rpc_message == (
        "Invalid clientInfo.name: 'bad\rname'. Must be a valid HTTP header value."
    )
    assert bad_name.value.data is None
    with pytest.raises(RpcError) as wrong:
        await client.request_raw("initialize", {"clientInfo": {"name": 5}})
    assert wrong.value.code == -32602 and wrong.value.data == {"field": "clientInfo.name"}
    result = await client.initialize("codex_vscode", experimental_api=True)
    assert result.user_agent.startswith("codex_vscode/")
    assert result.platform_family == "unix"
    with pytest.raises(RpcError) as again:
        await client.initialize("codex_vscode")
    assert (again.value.code, again.value.rpc_message) == (-32600, "Already initialized")
    with pytest.raises(RpcError) as missing:
        await client.request_raw("turn/start", {"input": []})
    assert missing.value.code == -32602
    assert missing.value.rpc_message == "Invalid params: missing field `threadId`"
    with pytest.raises(RpcError) as typed:
        await client.request_raw("thread/realtime/appendText", {"threadId": 3, "text": "x"})
    assert typed.value.code == -32602 and typed.value.data == {"field": "threadId"}
    # An unknown notification gets no answer, and nothing breaks.
    await client.notify("no/such/notification")
    assert (await client.thread_start()).thread.id
    assert client.process is not None and client.process.returncode is None


async def test_oversized_line_is_refused_and_the_next_line_works(spawn: Spawn) -> None:
    client = await spawn()
    await client.initialize("big")
    huge = b'{"id":1,"method":"thread/start","params":{"cwd":"' + b"x" * MAX_MESSAGE_BYTES + b'"}}'
    code, message = await _error_after(client, huge)
    assert code == -32600
    assert message.startswith("Invalid request: message exceeds the 8388608-byte limit")
    thread = (await client.thread_start()).thread
    assert thread.id.startswith("thr_")


async def test_realtime_over_stdio_and_eof_ends_the_conversation(
    spawn: Spawn, backend: Backend
) -> None:
    client = await spawn(backend.base_url)
    await client.initialize("stdio_client", experimental_api=True)
    thread_id = (await client.thread_start()).thread.id
    await client.realtime_start(thread_id, output_modality=OutputModality.TEXT, prompt=None)
    started = await client.wait_for("thread/realtime/started", timeout=TIMEOUT)
    assert started.params.thread_id == thread_id
    await backend.emulator.wait_for_sessions(1, timeout=TIMEOUT)
    record = backend.emulator.sessions[0]
    update = await record.wait_for_message(lambda m: m.get("type") == "session.update")
    assert update["session"]["instructions"] == ""  # prompt null: no backend prompt
    assert record.header("Authorization") == f"Bearer {API_KEY}"
    await client.append_text(thread_id, "over stdio")
    item = await record.wait_for_message(lambda m: m.get("type") == "conversation.item.create")
    assert item["item"]["content"][0]["text"] == "[USER] over stdio"
    voices = msgspec.json.decode(await client.request_raw("thread/realtime/listVoices"))
    assert voices["voices"]["defaultV1"] == "cove"
    # Closing stdin ends the server: the conversation closes cleanly, exit code 0.
    await client.aclose()
    await record.wait_closed(TIMEOUT)
    assert client.process is not None and client.process.returncode == 0


async def test_turn_over_stdio(spawn: Spawn, backend: Backend) -> None:
    client = await spawn(backend.base_url)
    await client.initialize("stdio_client")
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    await client.turn_start(thread_id, "ping")
    completed = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    assert completed.params.turn.status == "completed"
    deltas = client.notifications("item/agentMessage/delta", start=mark)
    assert "".join(n.params.delta for n in deltas) == "You said: ping"

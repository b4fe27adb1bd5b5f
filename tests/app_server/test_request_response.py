"""``thread/realtime/requestResponse``: the experimental way to get an answer to appended text."""

from __future__ import annotations

import pytest

from realtalk.app_server import AppServer, Client, RpcError
from realtalk.protocol import OutputModality

from .conftest import Backend, ClientFactory, start_realtime


async def test_request_response_answers_the_appended_text_in_order(
    client: Client, backend: Backend
) -> None:
    thread_id, record = await start_realtime(client, backend, output_modality=OutputModality.TEXT)
    mark = client.notification_count
    await client.append_text(thread_id, "hello")
    await client.request_response(thread_id)
    done = await client.wait_for(
        "thread/realtime/transcript/done", lambda p: p.role == "assistant", start=mark
    )
    assert done.params.thread_id == thread_id
    assert done.params.text == "You said: hello"
    # The text reached the model before the response was asked for.
    types = [m.get("type") for m in record.received]
    item = next(
        i
        for i, m in enumerate(record.received)
        if m.get("type") == "conversation.item.create"
        and m["item"]["content"][0]["text"] == "[USER] hello"
    )
    assert "response.create" in types[item + 1 :]


async def test_request_response_without_a_conversation_is_a_notification_error(
    client: Client,
) -> None:
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    await client.request_response(thread_id)  # answers {} ...
    error = await client.wait_for("thread/realtime/error", start=mark)
    assert error.params.thread_id == thread_id
    assert error.params.message == "conversation is not running"


async def test_request_response_requires_experimental_api(
    server: AppServer, client_factory: ClientFactory
) -> None:
    stable = await client_factory(server.url, experimental=False)
    thread_id = (await stable.thread_start()).thread.id
    with pytest.raises(RpcError) as refused:
        await stable.request_response(thread_id)
    assert refused.value.code == -32600
    assert refused.value.rpc_message == (
        "thread/realtime/requestResponse requires experimentalApi capability"
    )


async def test_request_response_names_a_missing_thread_id(client: Client) -> None:
    with pytest.raises(RpcError) as bad:
        await client.request_raw("thread/realtime/requestResponse", {})
    assert bad.value.code == -32602
    assert "threadId" in bad.value.rpc_message

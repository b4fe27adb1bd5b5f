"""A thread's realtime conversation outlives its session: ``thread/realtime/reconnected``."""

from __future__ import annotations

from realtalk.app_server import ThreadRealtimeReconnectedNotification

from .conftest import (
    TIMEOUT,
    BackendFactory,
    ClientFactory,
    ServerFactory,
    make_settings,
    start_realtime,
)


async def test_a_lost_session_is_reopened_and_the_client_is_told(
    backend_factory: BackendFactory, server_factory: ServerFactory, client_factory: ClientFactory
) -> None:
    backend = await backend_factory()
    server = await server_factory(make_settings(backend.base_url, reconnect_retry_base_ms=10))
    client = await client_factory(server.url)
    thread_id, record = await start_realtime(client, backend)
    await client.append_text(thread_id, "remember the number 7")
    await record.wait_for_type("conversation.item.create")
    mark = client.notification_count
    await record.close(1001)

    note = await client.wait_for(
        "thread/realtime/reconnected", lambda p: p.thread_id == thread_id, start=mark
    )
    params = note.params
    assert isinstance(params, ThreadRealtimeReconnectedNotification)
    assert (params.cause, params.attempts, params.restored_items) == ("closed", 1, 1)
    await backend.emulator.wait_for_sessions(2, timeout=TIMEOUT)
    second = backend.emulator.sessions[1]
    restored = await second.wait_for_type("conversation.item.create")
    assert restored["item"]["content"][0]["text"] == "[USER] remember the number 7"
    # The thread goes on in the new session: no error, no closed.
    await client.append_text(thread_id, "and 8")
    later = await second.wait_for_message(
        lambda m: m.get("type") == "conversation.item.create" and "and 8" in str(m)
    )
    assert later["item"]["content"][0]["text"] == "[USER] and 8"
    methods = [n.method for n in client.notifications(start=mark)]
    assert "thread/realtime/closed" not in methods and "thread/realtime/error" not in methods


async def test_the_notification_is_in_the_experimental_table() -> None:
    from realtalk.app_server import NOTIFICATIONS, NotificationMethod

    spec = NOTIFICATIONS[NotificationMethod("thread/realtime/reconnected")]
    assert spec.params is ThreadRealtimeReconnectedNotification and spec.experimental

"""The one method table: names, the experimental gate, thread scope, and that every
request method is served (a live server on loopback)."""

from __future__ import annotations

import pytest

from realtalk.app_server import (
    METHODS,
    NOTIFICATIONS,
    Client,
    NotificationMethod,
    RequestMethod,
    RpcError,
)


def test_realtime_methods_and_notifications_are_the_experimental_ones() -> None:
    assert {m for m, spec in METHODS.items() if spec.experimental} == {
        m for m in RequestMethod if m.startswith("thread/realtime/")
    }
    assert {m for m, spec in NOTIFICATIONS.items() if spec.experimental} == {
        m for m in NotificationMethod if m.startswith("thread/realtime/")
    }


def test_every_name_has_its_entry() -> None:
    assert set(METHODS) == set(RequestMethod)
    # ``initialized`` is the client's; every other notification is the server's.
    assert set(NOTIFICATIONS) == set(NotificationMethod) - {NotificationMethod.INITIALIZED}


STORED_THREAD_METHODS = {
    RequestMethod.THREAD_RESUME,
    RequestMethod.THREAD_ARCHIVE,
    RequestMethod.THREAD_UNARCHIVE,
}
"""They name a stored thread, which need not be loaded: not queued on a thread."""


@pytest.mark.parametrize("method", list(METHODS))
def test_thread_scoped_methods_are_those_that_name_a_loaded_thread(method: RequestMethod) -> None:
    spec = METHODS[method]
    names_a_thread = "thread_id" in spec.params.__struct_fields__
    assert spec.thread_scoped == (names_a_thread and method not in STORED_THREAD_METHODS)


async def test_the_server_serves_every_method_in_the_table(client: Client) -> None:
    for method in RequestMethod:
        try:
            await client.request_raw(method, {}, timeout=10)
        except RpcError as exc:  # bad params, no such thread...: served, not unknown
            assert exc.code != -32601, f"{method}: {exc}"
    with pytest.raises(RpcError) as unknown:
        await client.request_raw("thread/nope", {}, timeout=10)
    assert (unknown.value.code, unknown.value.rpc_message) == (
        -32601,
        "Method not found: thread/nope",
    )

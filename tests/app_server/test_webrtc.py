"""``thread/realtime/start`` with the WebRTC transport (emulator's ``/v1/realtime/calls``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtalk.app_server import RealtimeTransportWebrtc
from realtalk.transports import WebRtcPeer

from .conftest import TIMEOUT, BackendFactory, ClientFactory, ServerFactory, make_settings


@pytest.fixture
async def offer() -> AsyncIterator[str]:
    """A real local offer (loopback ICE); the peer never connects."""
    peer = WebRtcPeer(loopback_only=True)
    try:
        yield await peer.create_offer()
    finally:
        await peer.aclose()


async def test_webrtc_start_emits_sdp_after_started_and_joins_the_sideband(
    backend_factory: BackendFactory,
    server_factory: ServerFactory,
    client_factory: ClientFactory,
    offer: str,
) -> None:
    backend = await backend_factory()
    server = await server_factory(make_settings(backend.base_url, transport="webrtc"))
    client = await client_factory(server.url)
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    await client.realtime_start(thread_id, transport=RealtimeTransportWebrtc(offer))
    sdp = await client.wait_for("thread/realtime/sdp", start=mark, timeout=TIMEOUT)
    methods = [n.method for n in client.notifications(start=mark)]
    assert methods[:2] == ["thread/realtime/started", "thread/realtime/sdp"]
    emulator = backend.emulator
    await emulator.wait_for_calls(1, timeout=TIMEOUT)
    call = emulator.calls[0]
    assert sdp.params.thread_id == thread_id and sdp.params.sdp == call.answer_sdp
    assert call.path_qs == "/v1/realtime/calls"
    await emulator.wait_for_sessions(1, timeout=TIMEOUT)
    sideband = emulator.sessions[0]
    assert sideband.path_qs == f"/v1/realtime?call_id={call.call_id}"
    await client.append_text(thread_id, "hello sideband")
    item = await sideband.wait_for_message(lambda m: m.get("type") == "conversation.item.create")
    assert item["item"]["content"][0]["text"] == "[USER] hello sideband"
    await client.realtime_stop(thread_id)
    closed = await client.wait_for("thread/realtime/closed", start=mark, timeout=TIMEOUT)
    assert closed.params.reason in ("requested", "transport_closed")


async def test_backend_500_on_call_creation_answers_start_then_reports_error(
    backend_factory: BackendFactory,
    server_factory: ServerFactory,
    client_factory: ClientFactory,
    offer: str,
) -> None:
    backend = await backend_factory(call_status_500=True)
    server = await server_factory(make_settings(backend.base_url, transport="webrtc"))
    client = await client_factory(server.url)
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    await client.realtime_start(thread_id, transport=RealtimeTransportWebrtc(offer))  # {}
    error = await client.wait_for("thread/realtime/error", start=mark, timeout=TIMEOUT)
    assert error.params.thread_id == thread_id
    assert error.params.message
    # The failure is the only realtime notification: no started, no sdp, no closed.
    await client.realtime_stop(thread_id)
    await client.wait_for("thread/realtime/closed", start=mark, timeout=TIMEOUT)
    methods = [n.method for n in client.notifications(start=mark)]
    assert methods == ["thread/realtime/error", "thread/realtime/closed"]
    assert backend.emulator.calls[0].status == 500
    assert backend.emulator.sessions == []

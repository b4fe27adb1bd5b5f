"""End to end over TLS: every outbound leg trusts REALTALK_CA_CERTIFICATE, and only it.

The emulator serves https/wss with a fresh CA. With the variable set, the realtime
WebSocket, the WebRTC call creation, the sideband and the Responses API (WebSocket and
SSE) all connect; without it each fails with a message naming the variable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from realtalk import RealtalkError
from realtalk.agent import ModelClient, ModelClientOptions, Prompt
from realtalk.conversation import (
    ConversationEvent,
    ConversationManager,
    Realtime,
    SdpAnswer,
    Settings,
    Started,
    StartParams,
    Subscription,
    WebRtcTransport,
    WebSocketTransport,
)
from realtalk.emulator import Emulator, EmulatorOptions
from realtalk.protocol import ErrorEvent
from realtalk.tls import reset_cache
from realtalk.transports import WebRtcPeer

TIMEOUT = 10.0


@pytest.fixture
async def tls_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorOptions(tls=True, audio_realtime=False)) as emu:
        await emu.start()
        yield emu


def _settings(emu: Emulator, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": "sk-tls",
        "base_url": emu.base_url,
        "startup_context": "",
        "sideband_max_retries": 0,
    }
    values.update(overrides)
    return Settings(**values)


def _first(
    mgr: ConversationManager, predicate: Callable[[ConversationEvent], bool]
) -> asyncio.Future[ConversationEvent]:
    """Subscribe now (before start) and resolve with the first matching event."""
    return asyncio.ensure_future(_wait_first(mgr.subscribe(), predicate))


async def _wait_first(
    sub: Subscription, predicate: Callable[[ConversationEvent], bool]
) -> ConversationEvent:
    try:
        async with asyncio.timeout(TIMEOUT):
            async for event in sub:
                if predicate(event):
                    return event
    finally:
        sub.close()
    raise AssertionError("subscription ended")


def _started_or_error(event: ConversationEvent) -> bool:
    return isinstance(event, Started) or (
        isinstance(event, Realtime) and isinstance(event.payload, ErrorEvent)
    )


def _trust(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> None:
    assert emu.ca_path is not None
    monkeypatch.setenv("REALTALK_CA_CERTIFICATE", emu.ca_path)
    reset_cache()


async def test_realtime_websocket_over_wss(
    tls_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_emulator.base_url.startswith("https://")
    _trust(monkeypatch, tls_emulator)
    mgr = ConversationManager(_settings(tls_emulator))
    try:
        waiter = _first(mgr, _started_or_error)
        await mgr.start(StartParams(transport=WebSocketTransport()))
        assert isinstance(await waiter, Started)
        await tls_emulator.wait_for_sessions(1)
    finally:
        await mgr.aclose()


async def test_realtime_websocket_without_the_ca_names_the_variable(
    tls_emulator: Emulator,
) -> None:
    mgr = ConversationManager(_settings(tls_emulator))
    try:
        waiter = _first(mgr, _started_or_error)
        await mgr.start(StartParams(transport=WebSocketTransport()))
        event = await waiter
        assert isinstance(event, Realtime) and isinstance(event.payload, ErrorEvent)
        assert "certificate verification failed" in event.payload.message
        assert "REALTALK_CA_CERTIFICATE" in event.payload.message
    finally:
        await mgr.aclose()


async def test_webrtc_call_creation_and_sideband_over_tls(
    tls_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust(monkeypatch, tls_emulator)
    async with WebRtcPeer(loopback_only=True) as peer:
        offer = await peer.create_offer()
        mgr = ConversationManager(_settings(tls_emulator, transport="webrtc"))
        try:
            waiter = _first(mgr, lambda e: isinstance(e, SdpAnswer))
            await mgr.start(StartParams(transport=WebRtcTransport(offer)))
            assert isinstance(await waiter, SdpAnswer)
            await tls_emulator.wait_for_sessions(1, timeout=TIMEOUT)
            record = tls_emulator.sessions[0]
            assert "call_id=rtc_" in record.path_qs
            await record.wait_for_message(lambda m: m.get("type") == "session.update")
        finally:
            await mgr.aclose()


async def test_webrtc_call_creation_without_the_ca_names_the_variable(
    tls_emulator: Emulator,
) -> None:
    async with WebRtcPeer(loopback_only=True) as peer:
        offer = await peer.create_offer()
        mgr = ConversationManager(_settings(tls_emulator, transport="webrtc"))
        try:
            waiter = _first(mgr, _started_or_error)
            await mgr.start(StartParams(transport=WebRtcTransport(offer)))
            event = await waiter
            assert isinstance(event, Realtime) and isinstance(event.payload, ErrorEvent)
            assert "REALTALK_CA_CERTIFICATE" in event.payload.message
        finally:
            await mgr.aclose()


def _prompt() -> Prompt:
    return Prompt(
        model="agent-model",
        instructions="be brief",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
    )


@pytest.mark.parametrize("wire", ["websocket", "sse"])
async def test_responses_over_tls(
    tls_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, wire: str
) -> None:
    _trust(monkeypatch, tls_emulator)
    client = ModelClient(
        tls_emulator.base_url,
        api_key="sk-tls",
        options=ModelClientOptions(websockets_enabled=wire == "websocket", stream_max_retries=0),
    )
    try:
        async with client.new_session() as session:
            result = await session.complete(_prompt())
        assert result.response_id
        stats = tls_emulator.responses.stats
        if wire == "websocket":
            assert stats.websocket_requests == 1
        else:
            assert stats.http_requests == 1
    finally:
        await client.aclose()


@pytest.mark.parametrize("wire", ["websocket", "sse"])
async def test_responses_without_the_ca_names_the_variable(
    tls_emulator: Emulator, wire: str
) -> None:
    client = ModelClient(
        tls_emulator.base_url,
        api_key="sk-tls",
        options=ModelClientOptions(
            websockets_enabled=wire == "websocket", stream_max_retries=0, retry_base_delay_s=0.001
        ),
    )
    try:
        async with client.new_session() as session:
            with pytest.raises(RealtalkError) as info:
                await session.complete(_prompt())
        assert "REALTALK_CA_CERTIFICATE" in str(info.value)
    finally:
        await client.aclose()

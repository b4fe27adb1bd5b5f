"""Conversation manager over WebRTC against the emulator (reference 1.4, 1.7, 7, 9.3, 9.5, 9.6).

Call creation goes to the emulator's ``POST /v1/realtime/calls`` (a real aiortc
answering peer); the sideband is the emulator's ``/v1/realtime?call_id=`` socket.
Every offer is a real local aiortc offer (loopback ICE).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import pytest

from realtalk import ConversationNotRunningError
from realtalk.conversation import (
    Closed,
    ConversationEvent,
    ConversationManager,
    Realtime,
    SdpAnswer,
    Started,
)
from realtalk.emulator import Emulator
from realtalk.protocol import (
    ANSWER_APPROVAL_TOOL,
    BACKGROUND_AGENT_TOOL,
    CANCEL_AGENT_TOOL,
    REMAIN_SILENT_TOOL,
    AudioFrame,
    AudioOut,
    ConversationItemAdded,
    ErrorEvent,
    InputAudioSpeechStarted,
    InputTranscriptDone,
    SessionUpdated,
    Version,
)
from realtalk.transports import WebRtcPeer

from ._webrtc_support import (
    BOUNDARY,
    SERVER_500_MESSAGE,
    barrier,
    is_,
    kinds,
    multipart,
    pcm_rms,
    realtime,
    start_params,
    tone,
    webrtc_settings,
)
from .conftest import Recorder

Factory = Callable[..., tuple[ConversationManager, Recorder]]
EmulatorFactory = Callable[..., Awaitable[Emulator]]


# --------------------------------------------------------------------------- fixtures


# --------------------------------------------------------------------------- start order


async def test_webrtc_start_posts_generated_session(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str
) -> None:
    """SDP before the sideband handshake; queued text after session.update; exact body."""
    emu = await emulator_factory(sideband_latency_ms=1000)
    mgr, rec = manager_factory(webrtc_settings(emu.base_url))
    await mgr.start(start_params(offer))
    sdp = await rec.wait_for(is_(SdpAnswer))
    # Both events are out while the sideband handshake still waits its 1 s.
    assert emu.sessions == []
    assert rec.events[:2] == [Started("conv_rtc", Version.V2), sdp]
    await mgr.text_in("hello")  # queued before the join completes

    await emu.wait_for_calls(1)
    call = emu.calls[0]
    assert isinstance(sdp, SdpAnswer) and sdp.sdp == call.answer_sdp
    assert call.path_qs == "/v1/realtime/calls"
    assert call.header("Content-Type") == f"multipart/form-data; boundary={BOUNDARY}"
    expected_session = {
        "type": "realtime",
        "model": "gpt-realtime-1.5",
        "instructions": "backend prompt\n\nstartup context",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "noise_reduction": {"type": "near_field"},
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "turn_detection": {
                    "type": "server_vad",
                    "interrupt_response": True,
                    "create_response": True,
                    "silence_duration_ms": 500,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
        },
        # The reference's two tools, then realtalk's own.
        "tools": [
            BACKGROUND_AGENT_TOOL,
            REMAIN_SILENT_TOOL,
            CANCEL_AGENT_TOOL,
            ANSWER_APPROVAL_TOOL,
        ],
        "tool_choice": "auto",
    }
    assert call.body == multipart(offer, expected_session)
    assert call.session == expected_session
    assert call.location == f"/v1/realtime/calls/{call.call_id}"

    await emu.wait_for_sessions(1, timeout=5)
    sideband = emu.sessions[0]
    assert sideband.path_qs == f"/v1/realtime?call_id={call.call_id}"
    for headers_of in (call.header, sideband.header):
        assert headers_of("Authorization") == "Bearer sk-test-key"
        assert headers_of("x-session-id") == "conv_rtc"
        assert headers_of("openai-alpha") is None
    await sideband.wait_for_count(2)
    assert sideband.received_types[:2] == ["session.update", "conversation.item.create"]
    assert sideband.received[1]["item"]["content"][0]["text"] == "[USER] hello"
    assert call.sideband == ["accepted"]
    await rec.wait_for(realtime(SessionUpdated))
    assert mgr.running


async def test_webrtc_v1_posts_quicksilver_session_and_joins_with_intent(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str
) -> None:
    emu = await emulator_factory()
    mgr, rec = manager_factory(webrtc_settings(emu.base_url, version=Version.V1))
    await mgr.start(start_params(offer))
    await rec.wait_for(is_(SdpAnswer))
    await emu.wait_for_calls(1)
    call = emu.calls[0]
    expected_session = {
        "audio": {
            "input": {"format": {"rate": 24000, "type": "audio/pcm"}},
            "output": {"voice": "cove"},
        },
        "instructions": "backend prompt\n\nstartup context",
        "model": "gpt-realtime-1.5",
        "type": "quicksilver",
    }
    assert call.body == multipart(offer, expected_session)
    assert call.header("openai-alpha") == "quicksilver=v1"
    await emu.wait_for_sessions(1)
    sideband = emu.sessions[0]
    assert sideband.path_qs == f"/v1/realtime?intent=quicksilver&call_id={call.call_id}"
    assert sideband.version == "v1"
    assert sideband.header("openai-alpha") == "quicksilver=v1"
    assert sideband.header("Authorization") == "Bearer sk-test-key"
    update = await sideband.wait_for_type("session.update")
    assert update["session"]["type"] == "quicksilver"
    await rec.wait_for(realtime(SessionUpdated))
    # No immediate close: the conversation keeps running and accepts text.
    await mgr.text_in("still here")
    item = await sideband.wait_for_type("conversation.item.create")
    assert item["item"]["content"][0]["text"] == "still here"
    assert mgr.running and rec.of_type(Closed) == []


# --------------------------------------------------------------------------- lifecycle


async def test_close_while_sideband_connecting_drops_pending_join(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str
) -> None:
    emu = await emulator_factory(sideband_latency_ms=1000)
    mgr, rec = manager_factory(webrtc_settings(emu.base_url))
    await mgr.start(start_params(offer))
    await rec.wait_for(is_(SdpAnswer))
    await emu.wait_for_calls(1)
    call = emu.calls[0]
    await call.wait_until(lambda c: c.sideband_requests == 1)  # the join is in flight
    await mgr.close()
    await rec.wait_for(is_(Closed))
    # Bounded wait for the stale window: the emulator ends its 1 s handshake latency
    # and finds the client gone (a late join would have completed by then).
    await call.wait_until(lambda c: c.sideband == ["abandoned"], timeout=5)
    assert emu.sessions == []
    assert kinds(rec) == ["Started", "SdpAnswer", "Closed"]
    assert rec.of_type(Closed) == [Closed("requested")]
    assert not mgr.running
    with pytest.raises(ConversationNotRunningError):
        await mgr.text_in("late")


@pytest.mark.parametrize("retries", [0, 2])  # 0 retries: one attempt, not the default 4
async def test_sideband_join_failure_closes_with_error(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str, retries: int
) -> None:
    emu = await emulator_factory(sideband_never=True)
    mgr, rec = manager_factory(webrtc_settings(emu.base_url, sideband_max_retries=retries))
    await mgr.start(start_params(offer))
    closed = await rec.wait_for(is_(Closed))
    assert closed == Closed("error")
    assert kinds(rec) == ["Started", "SdpAnswer", "ErrorEvent", "Closed"]
    error = rec.events[2]
    assert isinstance(error, Realtime) and isinstance(error.payload, ErrorEvent)
    assert "HTTP 503" in error.payload.message
    assert emu.calls[0].sideband == ["refused"] * (retries + 1)
    assert emu.sessions == []
    with pytest.raises(ConversationNotRunningError, match="conversation is not running"):
        await mgr.text_in("late")


async def test_sideband_join_retries_until_the_server_accepts(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str
) -> None:
    emu = await emulator_factory(sideband_refuse_times=2)
    mgr, rec = manager_factory(webrtc_settings(emu.base_url, sideband_max_retries=3))
    await mgr.start(start_params(offer))
    await rec.wait_for(realtime(SessionUpdated))
    call = emu.calls[0]
    assert call.sideband == ["refused", "refused", "accepted"]
    await mgr.text_in("after retries")
    sideband = emu.sessions[0]
    item = await sideband.wait_for_type("conversation.item.create")
    assert item["item"]["content"][0]["text"] == "[USER] after retries"
    assert sideband.received_types[0] == "session.update"
    assert _errors_and_closes(rec) == []


def _errors_and_closes(rec: Recorder) -> list[ConversationEvent]:
    return [e for e in rec.events if isinstance(e, Closed) or realtime(ErrorEvent)(e)]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("call_status_500", f"realtime call creation failed with HTTP 500: {SERVER_500_MESSAGE}"),
        ("call_missing_location", "realtime call response missing Location"),
        (
            "call_location_without_id",
            "realtime call Location does not contain a call id: /v1/realtime/calls",
        ),
    ],
)
async def test_call_creation_failure_emits_error_only(
    emulator_factory: EmulatorFactory,
    manager_factory: Factory,
    offer: str,
    fault: str,
    message: str,
) -> None:
    emu = await emulator_factory(**{fault: True})
    mgr, rec = manager_factory(webrtc_settings(emu.base_url))
    await mgr.start(start_params(offer))
    assert not mgr.running
    await barrier(mgr, rec)
    assert kinds(rec) == ["ErrorEvent", "Closed"]  # the Closed is the barrier's
    error = rec.events[0]
    assert isinstance(error, Realtime) and isinstance(error.payload, ErrorEvent)
    assert error.payload.message.startswith(message)
    assert emu.calls[0].status == (500 if fault == "call_status_500" else 201)
    assert emu.sessions == []


# --------------------------------------------------------------------------- forwarding


async def test_v2_forwards_audio_and_text_between_client_and_sideband(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str
) -> None:
    emu = await emulator_factory()
    mgr, rec = manager_factory(webrtc_settings(emu.base_url))
    await mgr.start(start_params(offer))
    await rec.wait_for(realtime(SessionUpdated))
    sideband = emu.sessions[0]
    audio = base64.b64encode(bytes(960)).decode()
    await mgr.audio_in(AudioFrame(audio))
    await mgr.text_in("hello")
    append = await sideband.wait_for_type("input_audio_buffer.append")
    assert append == {"type": "input_audio_buffer.append", "audio": audio}
    item = await sideband.wait_for_type("conversation.item.create")
    assert item["item"]["content"][0]["text"] == "[USER] hello"
    # Server -> client: the model's ack and an injected audio delta come back typed.
    added = await rec.wait_for(realtime(ConversationItemAdded))
    assert isinstance(added, Realtime)
    await sideband.send_event(
        {
            "type": "response.output_audio.delta",
            "response_id": "resp_x",
            "item_id": "item_x",
            "output_index": 0,
            "content_index": 0,
            "delta": audio,
        }
    )
    out = await rec.wait_for(realtime(AudioOut))
    assert isinstance(out, Realtime) and isinstance(out.payload, AudioOut)
    assert out.payload.frame.data == audio


# --------------------------------------------------------------------------- media end to end


async def test_webrtc_media_end_to_end_through_aiortc(
    emulator_factory: EmulatorFactory, manager_factory: Factory
) -> None:
    """A real audio track: the emulator hears the tone, the client hears the model."""
    emu = await emulator_factory(audio_realtime=True)
    mgr, rec = manager_factory(webrtc_settings(emu.base_url))
    async with WebRtcPeer(loopback_only=True) as peer:
        await mgr.start(start_params(await peer.create_offer()))
        sdp = await rec.wait_for(is_(SdpAnswer))
        assert isinstance(sdp, SdpAnswer)
        await peer.accept_answer(sdp.sdp)
        await peer.wait_connected(timeout=10)
        await rec.wait_for(realtime(SessionUpdated))  # the sideband is joined

        peer.push_pcm24k(tone(0.6))  # then the track idles with silence (VAD stop)
        await rec.wait_for(realtime(InputAudioSpeechStarted), timeout=10)
        done = await rec.wait_for(realtime(InputTranscriptDone), timeout=10)
        assert isinstance(done, Realtime)
        call = emu.calls[0]
        assert call.input_audio_bytes > 0

        async def loud_chunk() -> float:
            async for chunk in peer.received_audio():
                rms = pcm_rms(chunk)
                if rms > 300:
                    return rms
            raise AssertionError("the peer ended before any model audio arrived")

        async with asyncio.timeout(10):
            rms = await loud_chunk()
        assert rms > 300
        assert call.output_audio_bytes > 0

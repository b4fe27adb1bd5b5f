"""``POST /v1/realtime/calls``: body forms, session config, media wiring, knobs, teardown.

Requests are sent with plain aiohttp (and once with the official SDK), sidebands with
the raw websockets client; the media side uses a real aiortc peer on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtalk import ConfigError
from realtalk.emulator import Emulator, EmulatorOptions, add_emulator_arguments
from realtalk.emulator._cli import options_from_args

from ._calls_support import (
    BOUNDARY,
    connected,
    create,
    multipart,
    next_event,
    post,
    session_via_sideband,
    sideband_url,
)
from ._client import open_client, pcm_tone, user_text

JsonDict = dict[str, Any]
EmulatorFactory = Callable[..., Awaitable[Emulator]]


# --------------------------------------------------------------------------- body forms


async def test_multipart_call_answers_sdp_and_location(
    emulator_factory: EmulatorFactory, offer: str
) -> None:
    emu = await emulator_factory()
    session = {"type": "realtime", "model": "gpt-test", "audio": {"output": {"voice": "cedar"}}}
    call_id, answer = await create(emu, offer, session)
    assert answer.headers["Content-Type"] == "application/sdp"  # bare, no charset
    assert answer.headers["Location"] == f"/v1/realtime/calls/{call_id}"
    assert call_id.startswith("rtc_") and len(call_id) > 4
    assert answer.body.decode().startswith("v=0")
    assert "a=candidate:" in answer.body.decode() and "127.0.0.1" in answer.body.decode()
    record = emu.calls[0]
    assert (record.status, record.call_id, record.body_kind) == (201, call_id, "multipart")
    assert record.body == multipart(offer, session)
    assert (record.offer_sdp, record.session) == (offer, session)
    assert record.answer_sdp == answer.body.decode()
    # The session JSON applied as if a session.update had arrived first.
    current = await session_via_sideband(emu, call_id)
    assert current["audio"]["output"]["voice"] == "cedar"
    assert current["model"] == "gpt-test"


async def test_raw_sdp_and_json_bodies(emulator_factory: EmulatorFactory, offer: str) -> None:
    emu = await emulator_factory()
    raw = await post(emu, offer.encode(), "application/sdp")
    assert raw.status == 201
    body = json.dumps(
        {"sdp": offer, "session": {"type": "realtime", "output_modalities": ["text"]}}
    )
    backend = await post(
        emu, body.encode(), "application/json", path="/backend-api/codex/realtime/calls"
    )
    assert backend.status == 201
    assert [c.body_kind for c in emu.calls] == ["sdp", "json"]
    assert emu.calls[0].session is None
    json_call = backend.headers["Location"].rsplit("/", 1)[1]
    assert (await session_via_sideband(emu, json_call))["output_modalities"] == ["text"]


@pytest.mark.parametrize(
    ("session", "version", "mode"),
    [
        ({"type": "quicksilver", "instructions": "be brief"}, "v1", "conversational"),
        ({"type": "transcription"}, "v2", "transcription"),
    ],
)
async def test_session_type_selects_version_and_mode(
    emulator_factory: EmulatorFactory, offer: str, session: JsonDict, version: str, mode: str
) -> None:
    emu = await emulator_factory()
    call_id, _ = await create(emu, offer, session)
    async with open_client(sideband_url(emu, call_id)) as client:
        await client.send({"type": "session.update", "session": {}})
        updated = await client.recv()
    assert emu.sessions[0].version == version
    assert emu.sessions[0].mode == mode
    if version == "v1":
        assert updated["session"]["instructions"] == "be brief"


async def test_official_sdk_creates_a_call(emulator_factory: EmulatorFactory, offer: str) -> None:
    emu = await emulator_factory()
    client = AsyncOpenAI(api_key="sk-sdk", base_url=emu.base_url)
    try:
        result = await client.realtime.calls.create(
            sdp=offer, session={"type": "realtime", "model": "gpt-realtime"}
        )
    finally:
        await client.close()
    assert result.response.status_code == 201
    assert result.text.startswith("v=0")
    record = emu.calls[0]
    assert record.body_kind == "multipart"
    assert record.offer_sdp == offer
    assert record.session == {"type": "realtime", "model": "gpt-realtime"}
    assert record.header("authorization") == "Bearer sk-sdk"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"hello", "text/plain", "Unsupported Content-Type 'text/plain'"),
        (b'{"session": {}}', "application/json", "Missing required parameter: 'sdp'."),
        (b"v=0\r\nnot sdp\r\n", "application/sdp", "Invalid SDP offer"),
        (
            multipart("v=0", {"type": "nonsense"}),
            f"multipart/form-data; boundary={BOUNDARY}",
            "Invalid value: 'nonsense'",
        ),
    ],
)
async def test_bad_bodies_are_400(
    emulator_factory: EmulatorFactory, body: bytes, content_type: str, message: str
) -> None:
    emu = await emulator_factory()
    answer = await post(emu, body, content_type)
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)
    assert emu.calls[0].status == 400


# --------------------------------------------------------------------------- faults


async def test_call_500_fault(emulator_factory: EmulatorFactory, offer: str) -> None:
    emu = await emulator_factory(call_status_500=True)
    answer = await post(emu, offer.encode(), "application/sdp")
    assert answer.status == 500
    assert answer.json()["error"]["type"] == "server_error"
    assert "Sorry about that!" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fault", "location"),
    [("call_missing_location", None), ("call_location_without_id", "/v1/realtime/calls")],
)
async def test_location_faults_answer_but_keep_no_call(
    emulator_factory: EmulatorFactory, offer: str, fault: str, location: str | None
) -> None:
    emu = await emulator_factory(**{fault: True})
    answer = await post(emu, offer.encode(), "application/sdp")
    assert answer.status == 201
    assert answer.headers.get("Location") == location
    assert answer.body.decode().startswith("v=0")
    record = emu.calls[0]
    assert record.call_id is None
    await record.wait_until(lambda r: r.ended.is_set())  # its peer was closed at once


async def test_call_latency_is_the_total_answer_time(
    emulator_factory: EmulatorFactory, offer: str
) -> None:
    emu = await emulator_factory(call_latency_ms=300)
    started = time.perf_counter()
    await create(emu, offer)
    elapsed_ms = (time.perf_counter() - started) * 1000
    # SDP work is inside the 300 ms, not added to it.
    assert 290 <= elapsed_ms < 450


async def test_sideband_latency_refusals_and_unknown_calls(
    emulator_factory: EmulatorFactory, offer: str
) -> None:
    emu = await emulator_factory(sideband_latency_ms=200, sideband_refuse_times=2)
    call_id, _ = await create(emu, offer)
    for _ in range(2):
        with pytest.raises(InvalidStatus) as refused:
            async with open_client(sideband_url(emu, call_id)):
                pass
        assert refused.value.response.status_code == 503
    started = time.perf_counter()
    async with open_client(sideband_url(emu, call_id)):
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert 190 <= elapsed_ms < 400
    record = emu.calls[0]
    assert record.sideband == ["refused", "refused", "accepted"]
    assert record.sideband_requests == 3
    with pytest.raises(InvalidStatus) as unknown:
        async with open_client(sideband_url(emu, "rtc_unknown")):
            pass
    assert unknown.value.response.status_code == 404


async def test_sideband_never(emulator_factory: EmulatorFactory, offer: str) -> None:
    emu = await emulator_factory(sideband_never=True)
    call_id, _ = await create(emu, offer)
    for _ in range(3):
        with pytest.raises(InvalidStatus) as refused:
            async with open_client(sideband_url(emu, call_id)):
                pass
        assert refused.value.response.status_code == 503
    assert emu.sessions == []


def test_cli_flags_map_to_options() -> None:
    parser = argparse.ArgumentParser()
    add_emulator_arguments(parser)
    args = parser.parse_args(
        [
            "--call-latency-ms",
            "300",
            "--sideband-latency-ms",
            "400",
            "--call-500",
            "--call-missing-location",
            "--call-location-without-id",
            "--sideband-refuse",
            "2",
            "--sideband-never",
        ]
    )
    options = options_from_args(args)
    assert (options.call_latency_ms, options.sideband_latency_ms) == (300, 400)
    assert options.call_status_500 and options.call_missing_location
    assert options.call_location_without_id and options.sideband_never
    assert options.sideband_refuse_times == 2
    defaults = options_from_args(parser.parse_args([]))
    assert (defaults.call_latency_ms, defaults.sideband_refuse_times) == (0, 0)
    assert not (defaults.call_status_500 or defaults.sideband_never)
    with pytest.raises(SystemExit):
        parser.parse_args(["--sideband-refuse", "-1"])
    for knob in ("call_latency_ms", "sideband_latency_ms", "sideband_refuse_times"):
        with pytest.raises(ConfigError, match=knob):
            EmulatorOptions(**{knob: -1})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- media


async def test_data_channel_and_track_reach_the_model(emulator_factory: EmulatorFactory) -> None:
    emu = await emulator_factory()
    peer, call_id, record = await connected(emu, {"type": "realtime"})
    try:
        assert (await next_event(peer, "session.created"))["session"]["type"] == "realtime"
        async with open_client(sideband_url(emu, call_id)) as sideband:
            # Data-channel client events drive the model; events go to both legs.
            await peer.send_event(user_text("[USER] over the channel"))
            await next_event(peer, "conversation.item.added")
            assert (await sideband.until("conversation.item.added"))[-1]["type"]
            await peer.send_event({"type": "response.create"})
            done = await next_event(peer, "response.output_audio_transcript.done")
            assert done["transcript"] == "You said: over the channel"
            # Audio goes out on the track, not as delta events.
            types = [e["type"] for e in await sideband.until("response.done")]
            assert "output_audio_buffer.started" in types
            assert "response.output_audio.delta" not in types
            await record.wait_until(lambda r: r.output_audio_bytes > 0)
            # Audio on the track feeds the VAD: speech then silence -> a committed turn.
            peer.push_pcm24k(pcm_tone(600))
            await sideband.until("input_audio_buffer.speech_started", timeout=10)
            await sideband.until("input_audio_buffer.committed", timeout=10)
            assert record.input_audio_bytes > 0
            assert record.data_channel_received[0]["type"] == "conversation.item.create"
    finally:
        await peer.aclose()


async def test_hangup_route_and_peer_hangup_end_the_call(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = await emulator_factory()
    peer, call_id, record = await connected(emu, {"type": "realtime"})
    async with open_client(sideband_url(emu, call_id)) as sideband:
        answer = await post(
            emu, b"", "application/json", path=f"/v1/realtime/calls/{call_id}/hangup"
        )
        assert answer.status == 200
        await record.wait_until(lambda r: r.ended.is_set())
        with pytest.raises(ConnectionClosed):
            await sideband.recv()
    assert (
        await post(emu, b"", "application/json", path=f"/v1/realtime/calls/{call_id}/hangup")
    ).status == 404
    with pytest.raises(InvalidStatus):
        async with open_client(sideband_url(emu, call_id)):
            pass
    await peer.aclose()

    # The client hanging up its peer ends the call too.
    peer2, _, record2 = await connected(emu, {"type": "realtime"})
    await peer2.aclose()
    await record2.wait_until(lambda r: r.ended.is_set(), timeout=10)


async def test_emulator_close_ends_calls_without_leaking_tasks(
    emulator_factory: EmulatorFactory,
) -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    emu = await emulator_factory(audio_realtime=True)
    peer, call_id, record = await connected(emu, {"type": "realtime"})
    async with open_client(sideband_url(emu, call_id)) as sideband:
        await sideband.send(user_text("[USER] a long answer " + "word " * 40))
        await sideband.send({"type": "response.create"})
        await sideband.until("output_audio_buffer.started")
        async with asyncio.timeout(10):
            await emu.aclose()
        assert record.ended.is_set()
        with pytest.raises(ConnectionClosed):
            while True:
                await sideband.recv()
    await peer.aclose()
    leftover = {t for t in asyncio.all_tasks() if not t.done()} - before
    current = asyncio.current_task()
    if current is not None:
        leftover.discard(current)
    assert sorted(t.get_name() for t in leftover) == []

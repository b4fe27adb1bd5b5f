"""Server plumbing: records, fault knobs, handshake latency, TLS, sidebands, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtalk import ConfigError, TransportClosedError
from realtalk.emulator import Emulator, EmulatorOptions

from ._client import b64, open_client, user_text
from ._scenarios import start_v2, url


async def _events_until_close(
    emulator: Emulator, *, send_update: bool = True
) -> tuple[list[str | bytes], int | None]:
    """Raw frames received until the server closes, and the close code."""
    frames: list[str | bytes] = []
    async with open_client(url(emulator)) as client:
        try:
            if send_update:
                await client.send({"type": "session.update", "session": {"type": "realtime"}})
                await client.send(user_text("[USER] hi"))
                await client.send({"type": "response.create"})
            while True:
                frames.append(await client.recv_raw())
        except ConnectionClosed:
            pass
        return frames, client.ws.close_code


@pytest.mark.parametrize("after", [0, 3])
async def test_close_after_events(after: int) -> None:
    async with Emulator(EmulatorOptions(audio_realtime=False, close_after_events=after)) as emu:
        frames, code = await _events_until_close(emu)
    assert len(frames) == after
    assert code == 1000


async def test_error_after_events() -> None:
    async with (
        Emulator(EmulatorOptions(audio_realtime=False, error_after_events=2)) as emu,
        open_client(url(emu)) as client,
    ):
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        events = [await client.recv() for _ in range(3)]
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        later = await client.recv()
    assert [e["type"] for e in events] == ["session.created", "session.updated", "error"]
    assert events[2]["error"]["type"] == "server_error"
    assert later["type"] == "session.updated"  # fires once, socket stays open


async def test_binary_after_events() -> None:
    async with (
        Emulator(EmulatorOptions(audio_realtime=False, binary_after_events=1)) as emu,
        open_client(url(emu)) as client,
    ):
        first = await client.recv_raw()
        second = await client.recv_raw()
    assert json.loads(first)["type"] == "session.created"
    assert isinstance(second, bytes)


async def test_malformed_after_events_then_continues() -> None:
    async with (
        Emulator(EmulatorOptions(audio_realtime=False, malformed_after_events=1)) as emu,
        open_client(url(emu)) as client,
    ):
        first = await client.recv_raw()
        bad = await client.recv_raw()
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        after = await client.recv()
    assert json.loads(first)["type"] == "session.created"
    assert isinstance(bad, str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad)
    assert after["type"] == "session.updated"


async def test_fault_counters_are_per_socket() -> None:
    async with Emulator(EmulatorOptions(audio_realtime=False, close_after_events=1)) as emu:
        first, _ = await _events_until_close(emu, send_update=False)
        second, _ = await _events_until_close(emu, send_update=False)
    assert len(first) == len(second) == 1


async def test_handshake_latency_delays_the_accept() -> None:
    async with Emulator(EmulatorOptions(handshake_latency_ms=300)) as emu:
        started = time.monotonic()
        async with open_client(url(emu)):
            elapsed = time.monotonic() - started
    assert elapsed >= 0.3


async def test_tls_serves_wss_trusted_by_the_ca_file() -> None:
    async with Emulator(EmulatorOptions(tls=True, audio_realtime=False)) as emu:
        assert emu.base_url.startswith("https://")
        assert emu.ws_base_url.startswith("wss://")
        assert emu.ca_path is not None
        trusted = ssl.create_default_context(cafile=emu.ca_path)
        async with open_client(url(emu), ssl=trusted) as client:
            assert (await client.recv())["type"] == "session.created"
        untrusted = ssl.create_default_context()
        with pytest.raises(ssl.SSLCertVerificationError):
            async with open_client(url(emu), ssl=untrusted):
                pass


async def test_records_request_and_messages(emulator: Emulator) -> None:
    headers = {"Authorization": "Bearer sk-test", "x-session-id": "thread-1"}
    async with open_client(url(emulator, "model=m1&trace=1"), headers=headers) as client:
        await start_v2(client)
        await emulator.wait_for_sessions(1)
        record = emulator.sessions[0]
        assert record.path_qs == "/v1/realtime?model=m1&trace=1"
        assert record.header("authorization") == "Bearer sk-test"
        assert record.headers["x-session-id"] == "thread-1"
        assert (record.version, record.mode) == ("v2", "conversational")
        await client.send(user_text("recorded"))
        message = await record.wait_for_type("conversation.item.create")
        assert message["item"]["content"][0]["text"] == "recorded"
        await record.wait_for_count(2)
        await record.send_event({"type": "rate_limits.updated", "rate_limits": []})
        injected = await client.until("rate_limits.updated")
        assert injected[-1]["event_id"]
        sent = await record.wait_for_sent(lambda e: e["type"] == "rate_limits.updated")
        assert sent["event_id"] == injected[-1]["event_id"]
        await record.close(4001)
        with pytest.raises(ConnectionClosed):
            await client.recv()
        assert client.ws.close_code == 4001
    await record.wait_closed()
    with pytest.raises(TransportClosedError):
        await record.wait_for_type("never.sent", timeout=1.0)


async def test_wait_for_message_times_out_with_context(emulator: Emulator) -> None:
    async with open_client(url(emulator)) as client:
        await start_v2(client)
        record = emulator.sessions[0]
        with pytest.raises(TimeoutError, match="session.update"):
            await record.wait_for_type("response.create", timeout=0.05)


async def test_plain_realtime_path_and_session_order(emulator: Emulator) -> None:
    base = emulator.ws_base_url.removesuffix("/v1")
    async with open_client(f"{base}/realtime?intent=quicksilver"), open_client(url(emulator)):
        await emulator.wait_for_sessions(2)
    assert [s.version for s in emulator.sessions] == ["v1", "v2"]


async def test_sideband_attaches_to_a_registered_model(emulator: Emulator) -> None:
    model = emulator.new_model(version="v2")
    emulator.register_call("rtc_test", model)
    seen: list[dict[str, object]] = []

    async def sink(event: dict[str, object]) -> None:
        seen.append(event)

    model.add_sink(sink)  # e.g. the call's data channel
    async with open_client(url(emulator, "call_id=rtc_test")) as client:
        await client.send(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}}
        )
        updated = await client.recv()
        assert updated["session"]["id"] == model.session_id
    assert [e["type"] for e in seen] == ["session.updated"]
    assert emulator.sessions[0].call_id == "rtc_test"
    with pytest.raises(InvalidStatus) as info:
        async with open_client(url(emulator, "call_id=rtc_unknown")):
            pass
    assert info.value.response.status_code == 404
    await model.aclose()


async def test_aclose_with_connected_clients_does_not_hang() -> None:
    emu = Emulator(EmulatorOptions(audio_realtime=True))
    await emu.start()
    async with open_client(url(emu)) as client:
        await start_v2(client)
        await client.send(user_text("[USER] " + " ".join(["talk"] * 80)))
        await client.send({"type": "response.create"})
        await client.until("response.output_audio.delta")
        async with asyncio.timeout(5):
            await emu.aclose()
        with pytest.raises(ConnectionClosed):
            while True:
                await client.recv()
        assert client.ws.close_code == 1001
    await emu.aclose()  # idempotent
    assert all(s.closed.is_set() for s in emu.sessions)


def test_options_reject_negative_values() -> None:
    with pytest.raises(ConfigError, match="close_after_events"):
        EmulatorOptions(close_after_events=-1)
    with pytest.raises(ConfigError, match="port"):
        EmulatorOptions(port=70000)


async def test_port_in_use_is_a_config_error(emulator: Emulator) -> None:
    port = emulator.port
    other = Emulator(EmulatorOptions(port=port))
    with pytest.raises(ConfigError, match="cannot listen"):
        await other.start()
    await other.aclose()


async def test_aclose_is_bounded_when_a_client_stops_reading() -> None:
    emu = Emulator(EmulatorOptions(echo_audio=True))
    await emu.start()
    append = {"type": "input_audio_buffer.append", "audio": b64(bytes(48_000))}  # 1 s each
    # A tiny receive buffer and a one-message queue make the echo back up after a few
    # dozen messages on any kernel (about 50 here; 120 with default buffers, 99 on CI).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)  # noqa: FBT003 (stdlib signature)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", emu.port))
    async with open_client(url(emu), sock=sock, max_queue=1) as client:

        async def flood() -> None:
            with contextlib.suppress(ConnectionClosed):
                for _ in range(2_000):
                    await client.send(append)  # never reads: the echo backs up

        flooder = asyncio.create_task(flood())
        try:
            await emu.wait_for_sessions(1)
            await emu.sessions[0].wait_for_count(10, timeout=10)
            started = time.monotonic()
            async with asyncio.timeout(8):
                await emu.aclose()
            assert time.monotonic() - started < 8
        finally:
            flooder.cancel()
            await asyncio.wait([flooder])


@pytest.mark.parametrize(
    ("cap", "words"),
    [
        (0.3, "Your session hit the maximum duration of 0.3 seconds."),
        (60.0, "Your session hit the maximum duration of 1 minute."),
    ],
)
async def test_the_session_cap_words(cap: float, words: str) -> None:
    from realtalk.emulator._wire import max_duration_text

    assert max_duration_text(cap) == words
    assert max_duration_text(3600) == "Your session hit the maximum duration of 60 minutes."


async def test_max_session_s_ends_the_session_as_the_real_api_does() -> None:
    # reference-wire-facts 3: the session_expired error event, then close 1001 whose
    # reason is the same sentence.
    async with (
        Emulator(EmulatorOptions(audio_realtime=False, max_session_s=0.3)) as emu,
        open_client(url(emu)) as client,
    ):
        started = time.monotonic()
        await start_v2(client)
        frames: list[str | bytes] = []
        with contextlib.suppress(ConnectionClosed):
            while True:
                frames.append(await client.recv_raw())
        elapsed = time.monotonic() - started
        close = (client.ws.close_code, client.ws.close_reason)
    expired = json.loads(frames[-1])
    assert expired["type"] == "error"
    words = "Your session hit the maximum duration of 0.3 seconds."
    assert expired["error"] == {
        "type": "invalid_request_error",
        "code": "session_expired",
        "message": words,
        "param": None,
        "event_id": None,
    }
    assert close == (1001, words)
    assert 0.25 < elapsed < 3.0


async def test_max_session_s_counts_per_socket_and_rejects_nonsense() -> None:
    async with Emulator(EmulatorOptions(audio_realtime=False, max_session_s=0.2)) as emu:
        for _ in range(2):
            async with open_client(url(emu)) as client:
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        await client.recv_raw()
                assert client.ws.close_code == 1001
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="max_session_s"):
            EmulatorOptions(max_session_s=bad)

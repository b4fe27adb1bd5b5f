"""Audio helpers, loopback ICE, and two real aiortc peers talking over 127.0.0.1."""

from __future__ import annotations

import array
import asyncio
import math
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aiortc.mediastreams import MediaStreamError

from realtalk import ConnectError, ProtocolError, TransportClosedError
from realtalk.emulator._rtc_peer import AnsweringPeer
from realtalk.protocol import PeerState, PeerStateError
from realtalk.transports import (
    Pcm16Resampler,
    Pcm24kSource,
    WavFormatError,
    WebRtcPeer,
    loopback_ice_candidates,
    read_wav_pcm24k,
    resample_pcm16,
    stream_pcm24k,
)

TIMEOUT = 10.0
LOUD = 1000  # sample magnitude that counts as "tone present"


def tone(freq: float, seconds: float, *, rate: int = 24_000, channels: int = 1) -> bytes:
    samples = array.array("h")
    for i in range(int(seconds * rate)):
        value = int(8000 * math.sin(2 * math.pi * freq * i / rate))
        samples.extend([value] * channels)
    return samples.tobytes()


def pcm(data: bytes) -> array.array[int]:
    return array.array("h", data[: len(data) - len(data) % 2])


def estimate_hz(samples: array.array[int], rate: int) -> float:
    """Zero-crossing frequency estimate over the loud part of the signal."""
    loud = [i for i, s in enumerate(samples) if abs(s) > LOUD]
    assert loud, "no tone found"
    window = samples[loud[0] : loud[-1] + 1]
    crossings = sum(1 for a, b in zip(window, window[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / 2 / (len(window) / rate)


# --- audio conversion -------------------------------------------------------------------


def stereo48k_to_mono24k(data: bytes) -> bytes:
    return resample_pcm16(data, in_rate=48_000, in_channels=2)


def test_stereo48k_to_mono24k_halves_rate_and_keeps_the_tone() -> None:
    out = pcm(stereo48k_to_mono24k(tone(440, 1.0, rate=48_000, channels=2)))
    assert len(out) == 24_000
    assert abs(estimate_hz(out, 24_000) - 440) < 10
    assert 7000 < max(out) < 8800


def test_mono24k_to_stereo48k_doubles_rate_and_duplicates_channels() -> None:
    out = pcm(
        resample_pcm16(
            tone(440, 0.5), in_rate=24_000, in_channels=1, out_rate=48_000, out_channels=2
        )
    )
    assert len(out) == 2 * 24_000
    left, right = out[0::2], out[1::2]
    assert left == right
    assert abs(estimate_hz(left, 48_000) - 440) < 10


def test_streaming_resampler_matches_one_shot_for_any_split() -> None:
    source = tone(440, 0.5, rate=48_000, channels=2)
    converter = Pcm16Resampler(in_rate=48_000, in_channels=2)
    pieces = [converter.convert(source[i : i + 1001]) for i in range(0, len(source), 1001)]
    assert b"".join(pieces) + converter.flush() == stereo48k_to_mono24k(source)


def test_resampler_rejects_more_than_two_channels() -> None:
    with pytest.raises(ValueError, match="mono and stereo"):
        Pcm16Resampler(in_rate=48_000, in_channels=3)


def _write(path: Path, frames: bytes, *, rate: int, channels: int, width: int) -> Path:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return path


def _widen(data: bytes, width: int) -> bytes:
    samples = pcm(data)
    if width == 1:  # unsigned 8-bit
        return bytes((s >> 8) + 128 for s in samples)
    if width == 3:
        return b"".join((s << 8).to_bytes(3, "little", signed=True) for s in samples)
    return b"".join((s << 16).to_bytes(4, "little", signed=True) for s in samples)


@pytest.mark.parametrize(
    ("rate", "channels", "width"),
    [(48_000, 2, 2), (8_000, 1, 1), (44_100, 1, 3), (16_000, 2, 4), (24_000, 2, 2)],
)
def test_read_wav_converts_to_pcm24k(tmp_path: Path, rate: int, channels: int, width: int) -> None:
    frames = tone(440, 0.5, rate=rate, channels=channels)
    if width != 2:
        frames = _widen(frames, width)
    path = _write(tmp_path / "in.wav", frames, rate=rate, channels=channels, width=width)

    out = pcm(read_wav_pcm24k(path))

    assert abs(len(out) - 12_000) <= 24  # 0.5 s at 24 kHz
    assert abs(estimate_hz(out, 24_000) - 440) < 15
    assert 6000 < max(out) < 8800


def test_read_wav_pcm24k_mono_is_passed_through_unchanged(tmp_path: Path) -> None:
    frames = tone(300, 0.2)
    path = _write(tmp_path / "in.wav", frames, rate=24_000, channels=1, width=2)
    assert read_wav_pcm24k(path) == frames


@pytest.mark.parametrize(("channels", "width"), [(1, 3), (2, 2), (2, 3)])
def test_read_wav_of_a_file_cut_mid_frame_keeps_the_whole_frames(
    tmp_path: Path, channels: int, width: int
) -> None:
    frames = tone(300, 0.2, rate=24_000, channels=channels)
    if width != 2:
        frames = _widen(frames, width)
    path = _write(tmp_path / "in.wav", frames, rate=24_000, channels=channels, width=width)
    with open(path, "r+b") as f:  # a download cut short: the data ends mid-frame
        f.truncate(path.stat().st_size - 1)
    out = read_wav_pcm24k(path)
    assert len(out) % 2 == 0
    assert abs(len(out) // 2 - 4800) <= 24  # 0.2 s at 24 kHz mono


def test_read_wav_errors(tmp_path: Path) -> None:
    surround = _write(tmp_path / "3ch.wav", bytes(60), rate=24_000, channels=3, width=2)
    with pytest.raises(WavFormatError, match="3 channels"):
        read_wav_pcm24k(surround)
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(WavFormatError, match="could not read WAV file"):
        read_wav_pcm24k(tmp_path / "junk.wav")
    with pytest.raises(WavFormatError, match="could not read WAV file"):
        read_wav_pcm24k(tmp_path / "missing.wav")


# --- outgoing track ---------------------------------------------------------------------


async def _recv_bytes(source: Pcm24kSource) -> bytes:
    frame = await source.recv()
    assert (frame.sample_rate, frame.samples, frame.layout.name) == (24_000, 480, "mono")
    return bytes(frame.planes[0])[:960]


async def test_source_sends_frames_then_holds_a_partial_for_one_period() -> None:
    source = Pcm24kSource()
    source.push(b"\x01\x00" * 480 + b"\x02\x00" * 240)  # 1.5 frames

    assert await _recv_bytes(source) == b"\x01\x00" * 480
    assert await _recv_bytes(source) == bytes(960)  # partial held back once
    assert await _recv_bytes(source) == b"\x02\x00" * 240 + bytes(480)  # then padded
    assert await _recv_bytes(source) == bytes(960)  # silence when empty
    source.stop()
    with pytest.raises(MediaStreamError):
        await source.recv()


async def test_source_drops_oldest_audio_on_overflow() -> None:
    source = Pcm24kSource(max_buffered_ms=100)
    oldest, older, newer = b"\x01\x00" * 1200, b"\x03\x00" * 1200, b"\x02\x00" * 1200
    source.push(oldest + older)  # 100 ms: full
    source.push(newer)  # 50 ms more: the oldest 50 ms must go
    assert source.buffered_ms == 100
    assert source.dropped_bytes == 50 * 48
    assert await _recv_bytes(source) == b"\x03\x00" * 480
    source.clear()
    assert source.buffered_ms == 0


async def test_stream_pcm24k_paces_20ms_chunks() -> None:
    chunks: list[bytes] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    duration = await stream_pcm24k(tone(440, 0.3), chunks.append, lead_ms=100)
    elapsed = loop.time() - started
    assert duration == pytest.approx(0.3)
    assert b"".join(chunks) == tone(440, 0.3)
    assert {len(c) for c in chunks} == {960}
    assert elapsed >= 0.3 - 0.1 - 0.03  # cannot run ahead of the schedule


# --- loopback ICE -----------------------------------------------------------------------


async def test_loopback_scope_is_scoped_nested_and_reversible() -> None:
    original = aioice.ice.get_host_addresses
    seen_outside: list[list[str]] = []
    inside_scope = asyncio.Event()
    checked = asyncio.Event()

    async def other_peer() -> None:  # started outside the scope: must see real interfaces
        await inside_scope.wait()
        seen_outside.append(aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False))
        checked.set()

    other = asyncio.create_task(other_peer())
    with loopback_ice_candidates():
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
        with loopback_ice_candidates():
            assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses is not original
        inside_scope.set()
        async with asyncio.timeout(TIMEOUT):
            await checked.wait()
    await other
    assert aioice.ice.get_host_addresses is original
    assert seen_outside == [original(use_ipv4=True, use_ipv6=False)]
    assert "127.0.0.1" not in seen_outside[0]


# --- two peers end to end ---------------------------------------------------------------


class ToneCollector:
    """Accumulates pcm24k and signals once enough loud samples arrived."""

    def __init__(self, loud_samples_wanted: int) -> None:
        self.data = bytearray()
        self.loud = 0
        self.wanted = loud_samples_wanted
        self.done = asyncio.Event()

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        self.loud += sum(1 for s in pcm(chunk) if abs(s) > LOUD)
        if self.loud >= self.wanted:
            self.done.set()


async def _connect(
    on_audio: Callable[[bytes], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[WebRtcPeer, AnsweringPeer]:
    client = WebRtcPeer(loopback_only=True)
    answerer = AnsweringPeer(on_audio=on_audio, on_event=on_event)
    offer = await client.create_offer()
    await client.accept_answer(await answerer.answer(offer))
    await client.wait_connected(TIMEOUT)
    await answerer.wait_connected(TIMEOUT)
    return client, answerer


@pytest.fixture
async def closers() -> AsyncIterator[list[WebRtcPeer | AnsweringPeer]]:
    peers: list[WebRtcPeer | AnsweringPeer] = []
    yield peers
    for peer in peers:
        await peer.aclose()


async def test_offer_has_one_sendrecv_audio_track_a_channel_and_loopback_candidates(
    closers: list[WebRtcPeer | AnsweringPeer],
) -> None:
    client = WebRtcPeer(loopback_only=True)
    closers.append(client)
    lines = (await client.create_offer()).splitlines()
    assert sum(line.startswith("m=audio") for line in lines) == 1
    assert sum(line.startswith("m=application") for line in lines) == 1
    assert not any(line.startswith("m=video") for line in lines)
    assert "a=sendrecv" in lines
    candidates = [line for line in lines if line.startswith("a=candidate:")]
    assert candidates
    assert all(" 127.0.0.1 " in line and "typ host" in line for line in candidates)
    assert client.state is PeerState.OFFERED


async def test_audio_and_events_flow_both_ways(closers: list[WebRtcPeer | AnsweringPeer]) -> None:
    heard = ToneCollector(loud_samples_wanted=int(0.6 * 24_000))
    answer_events: list[dict[str, Any]] = []
    got_event = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        answer_events.append(event)
        got_event.set()

    client, answerer = await _connect(heard.feed, on_event)
    closers.extend([client, answerer])
    assert client.state is PeerState.CONNECTED

    client.push_pcm24k(tone(440, 1.0))
    answerer.play_pcm24k(tone(660, 1.0))
    await client.send_event({"type": "session.update", "session": {"type": "realtime"}})
    await answerer.send_event({"type": "session.updated", "text": "héllo"})

    received = ToneCollector(loud_samples_wanted=int(0.6 * 24_000))

    async def read_client_audio() -> None:
        async for chunk in client.received_audio():
            received.feed(chunk)
            if received.done.is_set():
                return

    async def first_client_event() -> dict[str, Any]:
        async for event in client.events():
            return event
        raise AssertionError("event stream ended")

    async with asyncio.timeout(TIMEOUT):
        assert await first_client_event() == {"type": "session.updated", "text": "héllo"}
        await got_event.wait()
        await read_client_audio()
        await heard.done.wait()

    assert answer_events == [{"type": "session.update", "session": {"type": "realtime"}}]
    assert abs(estimate_hz(pcm(bytes(heard.data)), 24_000) - 440) < 30
    assert abs(estimate_hz(pcm(bytes(received.data)), 24_000) - 660) < 30


async def test_remote_hangup_ends_the_other_side(closers: list[WebRtcPeer | AnsweringPeer]) -> None:
    client, answerer = await _connect()
    closers.append(answerer)
    await client.aclose()
    async with asyncio.timeout(TIMEOUT):
        await answerer.wait_ended()
    assert answerer.ended
    with pytest.raises(TransportClosedError):
        await answerer.send_event({"type": "x"}, timeout=1)


async def test_close_is_idempotent_and_ends_iterators() -> None:
    client, answerer = await _connect()
    await asyncio.gather(client.aclose(), client.aclose())
    await client.aclose()
    await answerer.aclose()
    await answerer.aclose()
    assert client.state is PeerState.CLOSED
    async with asyncio.timeout(TIMEOUT):
        assert [e async for e in client.events()] == []
        async for _ in client.received_audio():
            pass  # may drain audio received before the close, then must end
    with pytest.raises(TransportClosedError):
        await client.send_event({"type": "x"})


async def test_misuse_and_bad_sdp_raise_typed_errors(
    closers: list[WebRtcPeer | AnsweringPeer],
) -> None:
    client = WebRtcPeer(loopback_only=True)
    closers.append(client)
    with pytest.raises(PeerStateError, match="cannot accept answer while the WebRTC peer is new"):
        await client.accept_answer("v=0\r\n")
    await client.create_offer()
    with pytest.raises(PeerStateError):
        await client.create_offer()
    with pytest.raises(ProtocolError, match="invalid SDP answer"):
        await client.accept_answer("this is not sdp")
    assert client.state is PeerState.FAILED
    with pytest.raises(ConnectError, match="WebRTC connection failed"):
        await client.wait_connected(TIMEOUT)

    answerer = AnsweringPeer()
    closers.append(answerer)
    with pytest.raises(ProtocolError, match="invalid SDP offer"):
        await answerer.answer("garbage")


async def test_wait_connected_times_out_without_an_answer(
    closers: list[WebRtcPeer | AnsweringPeer],
) -> None:
    client = WebRtcPeer(loopback_only=True)
    closers.append(client)
    await client.create_offer()
    with pytest.raises(ConnectError, match="did not connect within 0.2s"):
        await client.wait_connected(0.2)

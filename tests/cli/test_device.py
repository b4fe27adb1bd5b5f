"""Microphone/speaker logic without a sound card: pure parts and the in-memory device."""

from __future__ import annotations

import asyncio
import threading

import pytest

from realtalk.cli._capture import BlockQueue, MicCapture
from realtalk.cli._device import (
    AudioDeviceError,
    DeviceInfo,
    block_frames,
    choose_rate,
    format_devices,
    is_quiet,
    parse_device_spec,
    select_device,
)
from realtalk.cli._playback import JitterBuffer, Speaker
from tests.cli._fake_device import HEADSET, LINE_IN, MIC, FakeDevice, tone

MS = 48  # pcm24k bytes per millisecond


@pytest.mark.parametrize(
    ("rate", "frames"), [(24_000, 480), (48_000, 960), (44_100, 882), (16_000, 320), (8_000, 160)]
)
def test_block_frames_are_20_ms(rate: int, frames: int) -> None:
    assert block_frames(rate) == frames


def test_block_frames_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        block_frames(0)


def test_parse_device_spec() -> None:
    assert parse_device_spec("3") == 3
    assert parse_device_spec(" USB ") == "USB"
    assert parse_device_spec("") is None
    assert parse_device_spec(None) is None


def test_is_quiet() -> None:
    assert is_quiet(bytes(960))
    assert is_quiet(b"")
    assert not is_quiet(tone(0.02))
    assert is_quiet(tone(0.02, amp=20))


def test_select_device_default_index_and_names() -> None:
    devices = [MIC, HEADSET, LINE_IN]
    assert select_device(devices, None, kind="input") is MIC
    assert select_device(devices, None, kind="output") is HEADSET
    assert select_device(devices, 3, kind="input") is LINE_IN
    assert select_device(devices, "Line In", kind="input") is LINE_IN
    assert select_device(devices, "usb", kind="input") is MIC  # unique substring, any case
    assert select_device(devices, "headset", kind="input") is HEADSET  # it has a mic too


def test_select_device_errors_list_the_choices() -> None:
    devices = [MIC, HEADSET, LINE_IN]
    with pytest.raises(AudioDeviceError) as err:
        select_device(devices, 9, kind="input")
    message = str(err.value)
    assert message.startswith("no microphone with index 9; choose one with --input-device")
    assert "1: Fake USB Mic" in message and "3: Line In" in message
    assert "--list-devices" in message
    with pytest.raises(AudioDeviceError, match="matches several devices"):
        select_device(devices, "i", kind="input")
    with pytest.raises(AudioDeviceError, match="no speaker with index 1; .*--no-speaker"):
        select_device(devices, 1, kind="output")  # the mic has no output channels


def test_no_input_device_says_so() -> None:
    with pytest.raises(AudioDeviceError) as err:
        select_device([DeviceInfo(2, "HDMI", 0, 2, 48_000.0)], None, kind="input")
    assert str(err.value) == (
        "no default microphone found; this machine has no audio input devices"
    )
    no_default = DeviceInfo(3, "Line In", 2, 0, 44_100.0)
    with pytest.raises(AudioDeviceError, match="no default microphone found; choose one with"):
        select_device([no_default], None, kind="input")


def test_format_devices_marks_defaults_and_filters() -> None:
    listing = format_devices([MIC, HEADSET, LINE_IN])
    lines = listing.splitlines()
    assert lines[0] == "*   1: Fake USB Mic (1 in, 0 out, 48000 Hz)"
    assert lines[1].startswith("*   2: Fake Headset")
    assert lines[2].startswith("    3: Line In")
    assert "Fake USB Mic" not in format_devices([MIC, HEADSET], "output")
    assert format_devices([MIC], "output") == ""


def test_choose_rate_prefers_24k_then_the_device_rate() -> None:
    assert choose_rate(FakeDevice(), MIC, kind="input") == 24_000
    assert choose_rate(FakeDevice(rates=frozenset()), MIC, kind="input") == 48_000


async def test_block_queue_drops_oldest_and_counts() -> None:
    queue = BlockQueue(3)
    for i in range(5):
        queue.put(bytes([i]))
    assert queue.dropped == 2 and len(queue) == 3
    assert [await queue.get() for _ in range(3)] == [b"\x02", b"\x03", b"\x04"]


def test_jitter_buffer_prefill_then_plays_in_order() -> None:
    buf = JitterBuffer(prefill_ms=60)
    audio = tone(0.1)
    buf.push(audio[: 40 * MS])
    assert buf.read(20 * MS) == bytes(20 * MS)  # holding: below prefill
    buf.push(audio[40 * MS :])
    assert buf.read(20 * MS) == audio[: 20 * MS]
    assert buf.read(80 * MS) == audio[20 * MS :]
    assert buf.underruns == 0
    assert buf.read(20 * MS) == bytes(20 * MS)  # empty: silence
    assert buf.underruns == 1


def test_jitter_buffer_plays_a_short_tail_after_holding_it() -> None:
    buf = JitterBuffer(prefill_ms=60)
    tail = tone(0.02)
    buf.push(tail)
    held = [buf.read(20 * MS) for _ in range(3)]
    assert held == [bytes(20 * MS)] * 3
    assert buf.read(20 * MS) == tail


def test_jitter_buffer_underrun_pads_with_silence() -> None:
    buf = JitterBuffer(prefill_ms=0)
    buf.push(tone(0.01))
    out = buf.read(20 * MS)
    assert out[: 10 * MS] == tone(0.01) and out[10 * MS :] == bytes(10 * MS)
    assert buf.underruns == 1


def test_jitter_buffer_overflow_drops_the_oldest() -> None:
    buf = JitterBuffer(max_ms=100, prefill_ms=0, skip_quiet_ms=1000)
    audio = tone(0.15, hz=440)
    buf.push(audio)
    assert buf.buffered_ms == pytest.approx(100)
    assert buf.dropped_bytes == 50 * MS
    assert buf.read(100 * MS) == audio[50 * MS :]  # the newest 100 ms survive


def test_jitter_buffer_skips_silence_only_when_behind() -> None:
    buf = JitterBuffer(prefill_ms=0, skip_quiet_ms=100)
    buf.push(bytes(60 * MS))  # little buffered: silence is audio like any other
    assert buf.buffered_ms == pytest.approx(60)
    buf.push(tone(0.06))
    buf.push(bytes(40 * MS))  # 120 ms behind: a quiet chunk is dropped
    assert buf.buffered_ms == pytest.approx(120)
    assert buf.skipped_bytes == 40 * MS
    buf.push(tone(0.02))  # speech is never skipped
    assert buf.buffered_ms == pytest.approx(140)


def test_jitter_buffer_clear_is_barge_in() -> None:
    buf = JitterBuffer(prefill_ms=0)
    buf.push(tone(0.5))
    mark = buf.mark()
    assert buf.clear() == 500 * MS
    assert buf.consumed == mark  # cleared audio counts as gone for drain()
    assert buf.read(20 * MS) == bytes(20 * MS)


async def _feed_and_collect(
    mic: MicCapture, device: FakeDevice, pcm: bytes, want: int
) -> list[bytes]:
    got: list[bytes] = []
    enough = asyncio.Event()

    def sink(chunk: bytes) -> None:
        got.append(chunk)
        if sum(map(len, got)) >= want:
            enough.set()

    mic.open()
    task = asyncio.ensure_future(mic.run(sink))
    stream = device.inputs[0]
    assert await asyncio.to_thread(stream.started.wait, 5)
    await asyncio.to_thread(stream.feed, pcm)  # the "driver thread"
    async with asyncio.timeout(10):
        await enough.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    mic.close()
    assert stream.closed
    return got


async def test_mic_at_24k_passes_blocks_through_in_order() -> None:
    device = FakeDevice()
    mic = MicCapture(device, max_queue_ms=5000)
    pcm = b"".join(bytes([i, 0]) * 480 for i in range(50))  # 50 distinct 20 ms blocks
    got = await _feed_and_collect(mic, device, pcm, len(pcm))
    assert device.inputs[0].blocksize == 480
    assert got == [pcm[i : i + 960] for i in range(0, len(pcm), 960)]
    assert mic.dropped_blocks == 0


async def test_mic_resamples_when_the_device_wants_its_own_rate() -> None:
    device = FakeDevice(rates=frozenset())  # 24 kHz refused: capture at 48 kHz
    mic = MicCapture(device, max_queue_ms=5000)
    pcm48 = tone(1.0, rate=48_000)
    got = b"".join(await _feed_and_collect(mic, device, pcm48, 900 * MS))
    assert mic.samplerate == 48_000 and device.inputs[0].blocksize == 960
    assert 900 * MS <= len(got) <= 1000 * MS  # ~1 s of pcm24k (minus the filter delay)
    assert not is_quiet(got)


async def test_mic_sink_error_ends_run() -> None:
    device = FakeDevice()
    mic = MicCapture(device)

    async def sink(chunk: bytes) -> None:
        raise AudioDeviceError("sink refused")

    mic.open()
    task = asyncio.ensure_future(mic.run(sink))
    assert await asyncio.to_thread(device.inputs[0].started.wait, 5)
    await asyncio.to_thread(device.inputs[0].feed, tone(0.02))
    with pytest.raises(AudioDeviceError, match="sink refused"):
        async with asyncio.timeout(5):
            await task
    mic.close()


async def test_speaker_plays_resampled_audio_and_barge_in_clears_it() -> None:
    device = FakeDevice(rates=frozenset())  # output at the headset's 44.1 kHz
    speaker = Speaker(device, prefill_ms=0)
    speaker.open()
    out = device.outputs[0]
    assert out.started and speaker.samplerate == 44_100 and out.blocksize == 882
    speaker.play(tone(0.5))
    buffered = speaker.buffer.buffered_ms
    assert 400 < buffered <= 500
    played = await asyncio.to_thread(out.pull, 5)
    assert len(played) == 5 * 882 * 2 and not is_quiet(played)
    speaker.interrupt()
    assert speaker.interruptions == 1 and speaker.buffer.buffered_ms == 0
    assert await asyncio.to_thread(out.pull, 1) == bytes(882 * 2)
    speaker.close()
    assert out.closed


async def test_speaker_drain_waits_for_the_device_and_is_bounded() -> None:
    device = FakeDevice()
    speaker = Speaker(device)
    speaker.open()
    speaker.play(tone(0.3))
    await speaker.drain(timeout=0.05)  # nobody plays: gives up after the bound
    assert speaker.buffer.buffered_ms > 0
    stop = threading.Event()
    worker = asyncio.ensure_future(asyncio.to_thread(device.outputs[0].run_free, stop))
    try:
        mark = speaker.buffer.mark()
        await speaker.drain(timeout=10)
        assert speaker.buffer.consumed >= mark
    finally:
        stop.set()
        assert await worker > 0
    speaker.close()


async def test_speaker_without_output_device_fails_clearly() -> None:
    speaker = Speaker(FakeDevice([MIC]))
    with pytest.raises(AudioDeviceError, match="no default speaker found.*--no-speaker"):
        speaker.open()

"""How much of an answer the person heard: the speaker's and ``--audio-out``'s clocks."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from realtalk.cli._outputs import VirtualSpeaker, WavSink
from realtalk.cli._playback import Speaker

from ._fake_device import FakeDevice

MS = 48  # bytes of 24 kHz mono PCM16 per millisecond


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _frames(path: Path) -> int:
    with wave.open(str(path), "rb") as r:
        return r.getnframes()


def test_the_virtual_speaker_plays_in_real_time_and_barge_in_cuts_the_file(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    out = tmp_path / "out.wav"
    speaker = VirtualSpeaker(WavSink(str(out)), clock=clock)
    # A WebSocket delivers 1 s of answer at once; nothing has played yet.
    speaker.play(bytes(1000 * MS), "item_a")
    assert speaker.played_ms("item_a") == 0
    assert speaker.played_ms("item_other") is None
    clock.now += 0.25
    assert speaker.played_ms("item_a") == 250
    clock.now += 0.05
    speaker.interrupt()  # barge-in 300 ms in: the rest is never heard
    clock.now += 5
    assert speaker.played_ms("item_a") == 300
    # The next answer starts when it arrives, not when the last one would have ended.
    speaker.play(bytes(200 * MS), "item_b")
    clock.now += 0.1
    assert speaker.played_ms("item_b") == 100
    speaker.close()  # what is still queued was going to be heard: written out
    assert _frames(out) == 24 * (300 + 200)


def test_the_virtual_speaker_queues_answers_back_to_back(tmp_path: Path) -> None:
    clock = FakeClock()
    speaker = VirtualSpeaker(WavSink(str(tmp_path / "out.wav")), clock=clock)
    speaker.play(bytes(100 * MS), "item_a")
    speaker.play(bytes(100 * MS), "item_b")
    clock.now += 0.15
    assert (speaker.played_ms("item_a"), speaker.played_ms("item_b")) == (100, 50)
    speaker.close()


async def test_the_speaker_reports_what_left_for_the_device_and_freezes_at_barge_in() -> None:
    device = FakeDevice()
    speaker = Speaker(device, prefill_ms=0)
    speaker.open()
    out = device.outputs[0]
    speaker.play(bytes(20 * MS), "item_a")  # a short first answer, played out
    await asyncio.to_thread(out.pull, 1)
    speaker.play(bytes(500 * MS), "item_b")
    assert speaker.played_ms("item_b") == 0
    await asyncio.to_thread(out.pull, 5)  # 5 blocks of 20 ms
    assert speaker.played_ms("item_b") == 100
    assert speaker.played_ms("item_a") is None  # only the item playing is known
    speaker.interrupt()
    await asyncio.to_thread(out.pull, 3)  # silence now
    assert speaker.played_ms("item_b") == 100
    speaker.close()

"""``talk --mic/--speaker`` end to end against the offline emulator, with an in-memory
sound device (no sound card), and the one-line errors when audio support is missing."""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Literal

import pytest
from rich.console import Console

from realtalk import ConfigError
from realtalk.cli import build_parser
from realtalk.cli._device import AudioDeviceError
from realtalk.cli._render import Renderer
from realtalk.cli._session import TalkRuntime
from realtalk.cli._talk_audio import AudioOptions, LocalAudio, list_devices, run_mic
from realtalk.conversation import Settings
from tests.cli._fake_device import MIC, QUIET_MS, FakeDevice, RecordingPlayback, tone

HINT = (
    "needs the audio extra: pip install 'realtalk[audio]' "
    "(and the PortAudio library, e.g. apt-get install libportaudio2)"
)


async def _lines(queue: asyncio.Queue[str]) -> AsyncIterator[str]:
    while True:
        yield await queue.get()


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["talk", *argv])


def test_audio_options_from_flags() -> None:
    assert AudioOptions.from_args(_args()) == AudioOptions()
    assert AudioOptions.from_args(_args("--mic")) == AudioOptions(mic=True, speaker=True)
    assert AudioOptions.from_args(_args("--mic", "--no-speaker")).speaker is False
    assert AudioOptions.from_args(_args("--speaker")) == AudioOptions(speaker=True)
    opts = AudioOptions.from_args(_args("--mic", "--input-device", "2", "--output-device", "usb"))
    assert (opts.input_device, opts.output_device) == (2, "usb")
    with pytest.raises(ConfigError, match="--mic cannot be combined"):
        AudioOptions.from_args(_args("--mic", "--text", "hi"))


def test_list_devices_uses_the_device_seam() -> None:
    device = FakeDevice()
    listing = list_devices(device.factory)
    assert "Fake USB Mic" in listing and "Line In" in listing
    assert device.purposes == ["listing audio devices"]
    assert list_devices(FakeDevice([]).factory) == "no audio devices found"


async def test_local_audio_opens_mic_first_and_closes_everything() -> None:
    device = FakeDevice()
    async with LocalAudio(AudioOptions(mic=True, speaker=True), factory=device.factory) as audio:
        assert audio.mic is not None and audio.speaker is not None
        assert audio.mic.info == MIC
    assert device.purposes == ["microphone support"]
    assert device.outputs[0].closed and device.inputs[0].closed
    with pytest.raises(AudioDeviceError, match="no default microphone found"):
        async with LocalAudio(AudioOptions(mic=True), factory=FakeDevice([]).factory):
            pass


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_mic_to_emulator_to_speaker_with_barge_in(
    transport: Literal["websocket", "webrtc"],
) -> None:
    """Speech on the fake mic reaches the emulator's VAD, the answer reaches the
    speaker, and speaking again clears the speaker's queued audio."""
    device = FakeDevice(rates=frozenset())  # mic at 48 kHz: exercises resampling
    out = io.StringIO()
    renderer = Renderer(Console(file=out, width=200))
    typed: asyncio.Queue[str] = asyncio.Queue()
    async with LocalAudio(
        AudioOptions(mic=True, speaker=True), factory=device.factory, max_mic_queue_ms=10_000
    ) as audio:
        assert audio.mic is not None and audio.speaker is not None
        playback = RecordingPlayback(audio.speaker)
        async with TalkRuntime(
            Settings(transport=transport),
            renderer=renderer,
            offline=True,
            fast_emulator_audio=True,
            playback=playback,
        ) as runtime:
            await runtime.start()
            talking = asyncio.ensure_future(
                run_mic(runtime, audio.mic, lines=_lines(typed), quit_on_eof=True)
            )
            mic = device.inputs[0]
            assert await asyncio.to_thread(mic.started.wait, 30)
            runtime.tracker.expect_turn()
            speech = tone(0.6, rate=48_000) + bytes(48_000 * 2)
            await asyncio.to_thread(mic.feed, speech)
            await runtime.wait_idle(60)
            async with asyncio.timeout(30):
                await playback.heard.wait()
                if transport == "webrtc":  # the answer streams in real time: let it end
                    await playback.went_quiet.wait()
            assert "you (voice)>" in out.getvalue()
            # The person's first words cleared a speaker with nothing but (WebRTC) silence.
            assert len(playback.buffered_at_interrupt) == 1
            assert playback.buffered_at_interrupt[0] <= QUIET_MS

            playback.interrupted.clear()
            await asyncio.to_thread(mic.feed, tone(0.4, rate=48_000))  # barge in
            async with asyncio.timeout(30):
                await playback.interrupted.wait()
            assert playback.buffered_at_interrupt[1] > QUIET_MS  # the answer was cut off

            await typed.put("")  # an empty line quits
            async with asyncio.timeout(10):
                await talking
            assert mic.closed
            assert runtime.manager is not None
            await runtime.manager.close()


async def test_typed_lines_during_mic_and_close_ends_the_run() -> None:
    device = FakeDevice()
    out = io.StringIO()
    typed: asyncio.Queue[str] = asyncio.Queue()
    async with (
        LocalAudio(AudioOptions(mic=True), factory=device.factory) as audio,
        TalkRuntime(
            Settings(transport="websocket"),
            renderer=Renderer(Console(file=out, width=200)),
            offline=True,
            fast_emulator_audio=True,
        ) as runtime,
    ):
        assert audio.mic is not None and audio.speaker is None
        await runtime.start()
        talking = asyncio.ensure_future(
            run_mic(runtime, audio.mic, lines=_lines(typed), quit_on_eof=False)
        )
        runtime.tracker.expect_turn()
        await typed.put("hello there\n")
        await runtime.wait_idle(60)
        assert "You said: hello there" in out.getvalue()
        assert not talking.done()
        assert runtime.manager is not None
        await runtime.manager.close()  # the conversation ending ends the mic loop
        async with asyncio.timeout(10):
            await talking


async def test_stdin_eof_keeps_listening_unless_it_is_a_terminal() -> None:
    async def no_lines() -> AsyncIterator[str]:
        return
        yield  # pragma: no cover

    device = FakeDevice()
    async with (
        LocalAudio(AudioOptions(mic=True), factory=device.factory) as audio,
        TalkRuntime(
            Settings(transport="websocket"),
            renderer=Renderer(Console(file=io.StringIO())),
            offline=True,
            fast_emulator_audio=True,
        ) as runtime,
    ):
        assert audio.mic is not None
        await runtime.start()
        async with asyncio.timeout(10):
            await run_mic(runtime, audio.mic, lines=no_lines(), quit_on_eof=True)
        talking = asyncio.ensure_future(
            run_mic(runtime, audio.mic, lines=no_lines(), quit_on_eof=False)
        )
        assert await asyncio.to_thread(device.inputs[0].started.wait, 10)
        assert not talking.done()
        assert runtime.manager is not None
        await runtime.manager.close()
        async with asyncio.timeout(10):
            await talking


def _run_without(block: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess where importing ``sounddevice`` fails."""
    code = f"import sys\n{block}\nfrom realtalk.cli import main\nsys.exit(main({list(argv)!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


NOT_INSTALLED = "sys.modules['sounddevice'] = None"
NO_PORTAUDIO = """
class NoPortAudio:
    def find_spec(self, name, path=None, target=None):
        if name == 'sounddevice':
            raise OSError('PortAudio library not found')
sys.meta_path.insert(0, NoPortAudio())
"""


@pytest.mark.parametrize("block", [NOT_INSTALLED, NO_PORTAUDIO], ids=["no-extra", "no-portaudio"])
@pytest.mark.parametrize(
    ("argv", "purpose"),
    [
        (("talk", "--mic"), "microphone support"),
        (("talk", "--speaker", "--text", "hi"), "speaker playback"),
        (("talk", "--list-devices"), "listing audio devices"),
    ],
)
def test_missing_audio_support_is_one_line(block: str, argv: tuple[str, ...], purpose: str) -> None:
    result = _run_without(block, *argv)
    assert result.returncode == 1
    assert result.stderr == f"realtalk: error: {purpose} {HINT}\n"
    assert "offline emulator" not in result.stdout  # failed before any network work


def test_talk_without_audio_flags_never_imports_sounddevice() -> None:
    result = _run_without(NOT_INSTALLED, "talk", "--text", "hi", "--transport", "websocket")
    assert result.returncode == 0, result.stderr
    assert "You said: hi" in result.stdout

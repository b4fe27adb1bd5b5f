"""``realtalk talk --mic/--speaker``: a local microphone and speaker around a TalkRuntime.

With ``--mic`` the person just talks: 20 ms pcm24k blocks go to the WebRTC peer's
track (or ``audio_in`` over WebSocket) and the server's VAD takes turns. The model's
audio plays through ``Speaker`` (on by default with ``--mic``); when the person starts
talking (``InputAudioSpeechStarted``) the runtime clears what is still queued, and the
conversation truncates the interrupted answer.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import queue
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TextIO

from realtalk._errors import ConfigError, RealtalkError, TransportClosedError
from realtalk.cli._capture import MicCapture
from realtalk.cli._device import AudioDevice, format_devices, is_quiet, parse_device_spec
from realtalk.cli._playback import Speaker
from realtalk.cli._session import TalkRuntime
from realtalk.cli._sounddevice import load_sounddevice
from realtalk.protocol import AudioFrame
from realtalk.transports import WebRtcPeer

__all__ = [
    "HEADPHONES_NOTE",
    "AudioOptions",
    "LocalAudio",
    "add_audio_arguments",
    "list_devices",
    "run_mic",
    "stdin_lines",
]

logger = logging.getLogger(__name__)

HEADPHONES_NOTE = (
    "Use headphones with --mic: from loudspeakers the model hears its own voice, "
    "takes it for the person and interrupts itself (or pass --no-speaker)."
)
# Above this much unsent audio on the WebRTC track, quiet microphone blocks are skipped
# so drift between the sound card clock and the track's pacing cannot build latency.
MAX_MIC_LAG_MS = 200.0

DeviceFactory = Callable[[str], AudioDevice]


def add_audio_arguments(talk: argparse.ArgumentParser) -> None:
    """The ``talk`` flags for the local microphone and speaker."""
    group = talk.add_argument_group(
        "microphone and speaker (pip install 'realtalk[audio]')", description=HEADPHONES_NOTE
    )
    group.add_argument(
        "--mic",
        action="store_true",
        help="talk through the microphone; the server detects turns. "
        "Type a line to send it as text; an empty line or Ctrl-C quits",
    )
    group.add_argument(
        "--speaker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="play the model's audio on the output device (default: on with --mic)",
    )
    group.add_argument("--input-device", metavar="NAME|INDEX", help="microphone to use")
    group.add_argument("--output-device", metavar="NAME|INDEX", help="speaker to use")
    group.add_argument(
        "--list-devices", action="store_true", help="list audio devices (* = default) and exit"
    )


@dataclass(frozen=True)
class AudioOptions:
    mic: bool = False
    speaker: bool = False
    input_device: str | int | None = None
    output_device: str | int | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AudioOptions:
        mic = bool(getattr(args, "mic", False))
        speaker = getattr(args, "speaker", None)
        if mic and (getattr(args, "audio_in", None) or getattr(args, "text", None)):
            raise ConfigError("--mic cannot be combined with --audio-in or --text; pick one input")
        if (mic or speaker) and getattr(args, "app_server", None):
            raise ConfigError(
                "--mic and --speaker do not work with --app-server yet; leave out --app-server"
            )
        return cls(
            mic=mic,
            speaker=mic if speaker is None else bool(speaker),
            input_device=parse_device_spec(getattr(args, "input_device", None)),
            output_device=parse_device_spec(getattr(args, "output_device", None)),
        )


def list_devices(factory: DeviceFactory = load_sounddevice) -> str:
    devices = factory("listing audio devices").list_devices()
    return format_devices(devices) or "no audio devices found"


class LocalAudio:
    """The microphone and speaker of one run; ``async with`` opens and closes them.

    Devices are opened before the conversation starts, so a missing device fails fast
    with one line and no network work.
    """

    def __init__(
        self,
        options: AudioOptions,
        *,
        factory: DeviceFactory = load_sounddevice,
        max_mic_queue_ms: int = 1000,
    ) -> None:
        self.options = options
        self._factory = factory
        self._max_mic_queue_ms = max_mic_queue_ms
        self.mic: MicCapture | None = None
        self.speaker: Speaker | None = None

    async def __aenter__(self) -> LocalAudio:
        if not (self.options.mic or self.options.speaker):
            return self
        device = self._factory("microphone support" if self.options.mic else "speaker playback")
        try:
            if self.options.mic:
                self.mic = MicCapture(
                    device, spec=self.options.input_device, max_queue_ms=self._max_mic_queue_ms
                )
                self.mic.open()
            if self.options.speaker:
                self.speaker = Speaker(device, spec=self.options.output_device)
                self.speaker.open()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def drain(self) -> None:
        """Let the speaker finish what it has buffered (bounded)."""
        if self.speaker is not None:
            await self.speaker.drain(timeout=self.speaker.buffer.buffered_ms / 1000 + 1.0)

    def close(self) -> None:
        if self.mic is not None:
            self.mic.close()
        if self.speaker is not None:
            self.speaker.close()


async def stdin_lines(stream: TextIO | None = None) -> AsyncIterator[str]:
    """Lines typed on stdin without blocking the loop; ends at EOF.

    A daemon thread does the blocking ``readline``: it can stay blocked on a terminal
    after we are done without holding up interpreter exit (an executor thread would).
    One line is read per request, so nothing is buffered unasked.
    """
    source = stream if stream is not None else sys.stdin
    loop = asyncio.get_running_loop()
    requests: queue.SimpleQueue[asyncio.Future[str]] = queue.SimpleQueue()

    def reader() -> None:
        while True:
            future = requests.get()
            try:
                line = source.readline()
            except (OSError, ValueError):
                line = ""

            def deliver(f: asyncio.Future[str] = future, text: str = line) -> None:
                if not f.done():
                    f.set_result(text)

            try:
                loop.call_soon_threadsafe(deliver)
            except RuntimeError:
                return  # the loop is gone
            if not line:
                return

    threading.Thread(target=reader, name="realtalk-stdin", daemon=True).start()
    while True:
        future: asyncio.Future[str] = loop.create_future()
        requests.put(future)
        line = await future
        if not line:
            return
        yield line


def _audio_sink(runtime: TalkRuntime) -> Callable[[bytes], Awaitable[None] | None]:
    peer: WebRtcPeer | None = runtime.peer
    if peer is not None:

        def push(pcm: bytes) -> None:
            if peer.outgoing_buffered_ms > MAX_MIC_LAG_MS and is_quiet(pcm, threshold=64):
                return
            peer.push_pcm24k(pcm)

        return push
    manager = runtime.manager
    assert manager is not None

    async def send(pcm: bytes) -> None:
        await manager.audio_in(AudioFrame(base64.b64encode(pcm).decode("ascii")))

    return send


async def _typed_lines(runtime: TalkRuntime, lines: AsyncIterator[str]) -> bool:
    """Send typed lines as text; True when the person asked to quit (an empty line)."""
    manager = runtime.manager
    assert manager is not None
    async for line in lines:
        text = line.strip()
        if not text:
            return True
        runtime.renderer.user(text)
        await manager.text_in(text)
        await manager.request_response()
    return False


async def run_mic(
    runtime: TalkRuntime,
    mic: MicCapture,
    *,
    lines: AsyncIterator[str],
    quit_on_eof: bool,
    connect_timeout: float = 15.0,
) -> None:
    """Talk through ``mic`` until an empty line, EOF (if ``quit_on_eof``) or the end.

    Raises:
        RealtalkError: the conversation or the media connection ended with an error.
    """
    if runtime.peer is not None:
        await runtime.peer.wait_connected(timeout=connect_timeout)
    name = mic.info.name if mic.info is not None else "default"
    runtime.renderer.info(
        f"listening on {name!r}: just talk (the server detects turns); "
        "type a line to send text; an empty line, Ctrl-D or Ctrl-C quits"
    )
    capture = asyncio.ensure_future(mic.run(_audio_sink(runtime)))
    typed = asyncio.ensure_future(_typed_lines(runtime, lines))
    ended = asyncio.ensure_future(runtime.tracker.ended.wait())
    waiters: set[asyncio.Future[Any]] = {capture, typed, ended}
    peer_ended: asyncio.Future[None] | None = None
    if runtime.peer is not None:
        peer_ended = asyncio.ensure_future(runtime.peer.wait_ended())
        waiters.add(peer_ended)
    pending = set(waiters)
    try:
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if capture in done:
                capture.result()  # raises the sink's error (e.g. not running)
                raise AssertionError("capture ended without an error")  # pragma: no cover
            if typed in done and (typed.result() or quit_on_eof):
                return
            if ended in done:
                closed = runtime.tracker.closed
                if closed is not None and closed.reason == "error":
                    errors = runtime.tracker.errors
                    message = errors[-1] if errors else "unknown error"
                    raise RealtalkError(f"the conversation ended with an error: {message}")
                return
            if peer_ended is not None and peer_ended in done:
                raise TransportClosedError("the WebRTC media connection ended")
            # stdin reached EOF but is not a terminal: keep listening until Ctrl-C.
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        mic.close()
        if mic.dropped_blocks:
            runtime.renderer.info(f"dropped {mic.dropped_blocks} microphone blocks (too slow)")

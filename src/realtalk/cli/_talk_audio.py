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
import logging
import queue
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TextIO

from realtalk._errors import ConfigError, RealtalkError, TransportClosedError
from realtalk.cli._capture import MicCapture
from realtalk.cli._device import AudioDevice, format_devices, parse_device_spec
from realtalk.cli._playback import Speaker
from realtalk.cli._render import Renderer
from realtalk.cli._sounddevice import load_sounddevice
from realtalk.cli._talk_options import HEADPHONES_NOTE, add_audio_arguments

__all__ = [
    "HEADPHONES_NOTE",
    "AudioOptions",
    "LocalAudio",
    "CANCEL_COMMAND",
    "TalkSession",
    "add_audio_arguments",
    "list_devices",
    "run_mic",
    "run_typed",
    "stdin_lines",
]

logger = logging.getLogger(__name__)

DeviceFactory = Callable[[str], AudioDevice]


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


class TalkSession(Protocol):
    """What interactive input needs from a running conversation, local or remote."""

    renderer: Renderer

    @property
    def ended(self) -> asyncio.Event:
        """Set once the conversation closed."""
        ...

    def end_error(self) -> str | None:
        """The error that ended the conversation, if one did."""
        ...

    async def say(self, text: str, *, timeout: float) -> None:
        """Send a typed line and wait until its turn is over."""
        ...

    async def send_line(self, text: str) -> None:
        """Send a typed line and ask for an answer, without waiting for it."""
        ...

    async def cancel_delegation(self) -> bool:
        """Cancel the agent's running task; False when none was running."""
        ...

    async def wait_idle(self, timeout: float) -> None:
        """Until the turn is over (``timeout``: the idle limit)."""
        ...

    async def watch_turns(self, limit: float) -> None:
        """Raise when a turn in progress stalls for ``limit`` seconds (never returns)."""
        ...

    def audio_sink(self) -> Callable[[bytes], Awaitable[None] | None]:
        """Where microphone pcm24k goes."""
        ...

    async def wait_media(self, timeout: float) -> None:  # noqa: ASYNC109 (bounded wait)
        """Wait until microphone audio can flow."""
        ...

    async def media_lost(self) -> str:
        """Wait until the media path breaks (maybe never); returns why."""
        ...


def _raise_if_failed(session: TalkSession) -> None:
    message = session.end_error()
    if message is not None:
        raise RealtalkError(f"the conversation ended with an error: {message}")


async def _next_line(
    lines: AsyncIterator[str], ended: asyncio.Event, watchdog: asyncio.Future[None]
) -> str | None:
    """The next typed line; None at EOF or once the conversation ended.

    Raises what ``watchdog`` raised (a stalled turn) while waiting.
    """
    line = asyncio.ensure_future(anext(lines, ""))
    end = asyncio.ensure_future(ended.wait())
    try:
        waiters: set[asyncio.Future[Any]] = {line, end, watchdog}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (line, end):
            waiter.cancel()
        await asyncio.gather(line, end, return_exceptions=True)
    if line.done() and not line.cancelled() and line.exception() is None and line.result():
        return line.result()
    if watchdog.done() and not ended.is_set():
        watchdog.result()  # raises the stall
    return None


CANCEL_COMMAND = "/cancel"
"""Typed alone, cancels the agent's running task (the console binds a key instead)."""


async def _typed(session: TalkSession, line: str) -> None:
    text = line.strip()
    if text != CANCEL_COMMAND:
        await session.send_line(text)
    elif await session.cancel_delegation():
        session.renderer.info("cancelling the agent's task")
    else:
        session.renderer.info("no agent task is running")


async def run_typed(session: TalkSession, lines: AsyncIterator[str], *, timeout: float) -> None:
    """Send each typed line at once, whatever the agent is doing, until an empty line,
    EOF, or the conversation ends; then wait for what is still being answered (raise if
    the conversation ended with an error).

    A line never waits for the previous answer or a running delegation: the model
    hears it at once (and answers when its current response is over); a word about the
    running task reaches the agent as steering. ``/cancel`` stops the agent's task.
    ``timeout`` is the idle limit: a turn in progress with no event, agent progress
    or input for that long fails the run.

    Read ``lines`` from :func:`stdin_lines`: an executor thread blocked in ``readline``
    would keep Ctrl-C from ending the process until the person pressed Enter.
    """
    session.renderer.info(
        f"type a line and press enter ({CANCEL_COMMAND} stops the agent's task); "
        "an empty line or Ctrl-D quits once the answer is in, Ctrl-C at once"
    )
    watchdog = asyncio.ensure_future(session.watch_turns(timeout))
    try:
        while True:
            line = await _next_line(lines, session.ended, watchdog)
            if line is None or not line.strip():
                break
            await _typed(session, line)
        if not session.ended.is_set():
            await session.wait_idle(timeout)  # what was asked is still being answered
    finally:
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
    _raise_if_failed(session)


async def _typed_lines(session: TalkSession, lines: AsyncIterator[str]) -> bool:
    """Send typed lines as text; True when the person asked to quit (an empty line)."""
    async for line in lines:
        if not line.strip():
            return True
        await _typed(session, line)
    return False


async def run_mic(
    session: TalkSession,
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
    await session.wait_media(connect_timeout)
    name = mic.info.name if mic.info is not None else "default"
    session.renderer.info(
        f"listening on {name!r}: just talk (the server detects turns); "
        "type a line to send text; an empty line, Ctrl-D or Ctrl-C quits"
    )
    capture = asyncio.ensure_future(mic.run(session.audio_sink()))
    typed = asyncio.ensure_future(_typed_lines(session, lines))
    ended = asyncio.ensure_future(session.ended.wait())
    media = asyncio.ensure_future(session.media_lost())
    waiters: set[asyncio.Future[Any]] = {capture, typed, ended, media}
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
                _raise_if_failed(session)
                return
            if media in done:
                raise TransportClosedError(media.result())
            # stdin reached EOF but is not a terminal: keep listening until Ctrl-C.
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        mic.close()
        if mic.dropped_blocks:
            session.renderer.info(f"dropped {mic.dropped_blocks} microphone blocks (too slow)")

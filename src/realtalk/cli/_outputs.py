"""Where a ``talk`` run's output goes besides the terminal: ``--audio-out`` and the speaker.

Over WebSocket ``--audio-out`` is a :class:`VirtualSpeaker`: the model's audio is
"played" into the file at real-time pace, so barge-in cuts the file where the person
interrupted, and the conversation truncates the answer at the same position (it is
the conversation's playback clock when there is no real speaker). Over WebRTC the
server paces and cuts the track itself, and the file gets the track as it arrives.

Policy (like the wire tap's): an output that fails mid-run (a full disk, a sound
device that vanished) is switched off after one report and the conversation goes
on. A failed ``--audio-out`` (or ``--events-jsonl``, see :mod:`._jsonl`) is raised
as one :class:`ConfigError` when the run closes its files, after every file has
been closed, so the run still ends with one clear line and exit status 1.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import wave
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Protocol

from realtalk._errors import ConfigError
from realtalk.cli._device import AudioPlayback
from realtalk.transports import PCM24K_RATE

if TYPE_CHECKING:
    from realtalk.app_server import RealtimeAudioChunk

__all__ = ["SafePlayback", "VirtualSpeaker", "WavSink", "close_outputs"]

logger = logging.getLogger(__name__)

_BYTES_PER_S: Final = PCM24K_RATE * 2
_ITEMS_KEPT: Final = 8


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class WavSink:
    """``--audio-out``: mono PCM16 into a WAV file (24 kHz unless the first chunk says else)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            # Open the file first: wave.open(path) leaves a half-built writer behind
            # on failure, whose __del__ prints a stray traceback.
            self._file: IO[bytes] = Path(path).open("wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ConfigError(f"cannot write --audio-out {path}: {exc}") from exc
        self._wav: wave.Wave_write | None = wave.open(self._file, "wb")  # noqa: SIM115 - closed
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(PCM24K_RATE)
        self._format: tuple[int, int] | None = None
        self._error: OSError | None = None

    def write(self, pcm: bytes) -> None:
        """Append pcm; the first failure switches the sink off (raised by close())."""
        if self._wav is None or self._error is not None:
            return
        try:
            self._wav.writeframes(pcm)
        except OSError as exc:
            self._error = exc
            logger.error(
                "cannot write --audio-out %s (%s); no more audio is written", self.path, exc
            )

    def write_chunk(self, chunk: RealtimeAudioChunk) -> None:
        """An app-server audio chunk (the file takes the first chunk's format)."""
        if self._wav is None or self._error is not None:
            return
        fmt = (chunk.sample_rate, chunk.num_channels)
        if self._format is None:
            self._format = fmt
            self._wav.setframerate(chunk.sample_rate)
            self._wav.setnchannels(chunk.num_channels)
        elif fmt != self._format:
            logger.warning("output audio changed format to %s; chunk dropped", fmt)
            return
        try:
            pcm = base64.b64decode(chunk.data, validate=True)
        except (binascii.Error, ValueError):
            logger.warning("output audio chunk is not valid base64; dropped")
            return
        self.write(pcm)

    def close(self) -> None:
        """Finish the file; raises ConfigError (once) if writing it failed."""
        wav, self._wav = self._wav, None
        if wav is None:
            return
        error = self._error
        try:
            wav.close()  # writes the header's sizes
        except OSError as exc:
            error = error or exc
        try:
            self._file.close()
        except OSError as exc:
            error = error or exc
        if error is not None:
            raise ConfigError(f"cannot write --audio-out {self.path}: {error}") from error


class VirtualSpeaker:
    """``--audio-out`` over WebSocket: a speaker without a device, paced by the clock.

    Audio "plays" at 24 kHz from the moment it arrives (or from the end of what was
    queued before it); what has played by now is written to the file. ``interrupt``
    drops what has not played yet, so the file is cut where the person barged in.
    Whatever is still queued when the run closes is written out (it would have been
    heard). Used on the event loop thread only.
    """

    def __init__(self, sink: WavSink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self._clock = clock
        self._queue: deque[tuple[str | None, bytes]] = deque()
        self._since = 0.0  # clock time the current stretch of playback started
        self._stretch = 0  # bytes played since then
        self._played: dict[str, int] = {}  # bytes played per recent item

    def _advance(self) -> None:
        now = self._clock()
        if not self._queue:
            self._since, self._stretch = now, 0  # idle: the next audio starts on arrival
            return
        budget = round((now - self._since) * _BYTES_PER_S) // 2 * 2 - self._stretch
        while self._queue and budget > 0:
            item_id, pcm = self._queue[0]
            chunk = pcm[:budget]
            if len(chunk) == len(pcm):
                self._queue.popleft()
            else:
                self._queue[0] = (item_id, pcm[len(chunk) :])
            self._write(item_id, chunk)
            budget -= len(chunk)
            self._stretch += len(chunk)

    def _write(self, item_id: str | None, pcm: bytes) -> None:
        self.sink.write(pcm)
        if item_id in self._played:
            self._played[item_id] += len(pcm)

    def play(self, pcm24k: bytes, item_id: str | None = None) -> None:
        self._advance()
        if not pcm24k:
            return
        if item_id is not None and item_id not in self._played:
            if len(self._played) >= _ITEMS_KEPT:
                del self._played[next(iter(self._played))]
            self._played[item_id] = 0
        self._queue.append((item_id, pcm24k))

    def played_ms(self, item_id: str) -> float | None:
        self._advance()
        played = self._played.get(item_id)
        return None if played is None else played * 1000 / _BYTES_PER_S

    def interrupt(self) -> None:
        self._advance()
        dropped = sum(len(pcm) for _, pcm in self._queue)
        self._queue.clear()
        logger.debug("barge-in: --audio-out cut", extra={"dropped_bytes": dropped})

    def close(self) -> None:
        """Write what is still queued, then finish the file (raises like ``WavSink``)."""
        while self._queue:
            self._write(*self._queue.popleft())
        self.sink.close()


class SafePlayback:
    """The speaker behind a guard: its first failure is reported once and turns it off."""

    def __init__(self, playback: AudioPlayback, report: Callable[[str], None]) -> None:
        self._playback: AudioPlayback | None = playback
        self._report = report

    def play(self, pcm24k: bytes, item_id: str | None = None) -> None:
        if self._playback is not None:
            try:
                self._playback.play(pcm24k, item_id)
            except Exception as exc:  # a vanished device must not end the conversation
                self._fail(exc)

    def played_ms(self, item_id: str) -> float | None:
        if self._playback is not None:
            try:
                return self._playback.played_ms(item_id)
            except Exception as exc:
                self._fail(exc)
        return None

    def interrupt(self) -> None:
        if self._playback is not None:
            try:
                self._playback.interrupt()
            except Exception as exc:
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._playback = None
        logger.error("speaker playback failed", exc_info=exc)
        self._report(f"the speaker failed ({_reason(exc)}); playback is off for this run")


class _Closable(Protocol):
    def close(self) -> None: ...


def close_outputs(*outputs: _Closable | None) -> None:
    """Close every output, then raise the first ConfigError one of them raised."""
    first: ConfigError | None = None
    for output in outputs:
        if output is None:
            continue
        try:
            output.close()
        except ConfigError as exc:
            first = first or exc
    if first is not None:
        raise first

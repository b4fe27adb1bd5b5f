"""Where a ``talk`` run's output goes besides the terminal: ``--audio-out`` and the speaker.

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
import wave
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from realtalk._errors import ConfigError
from realtalk.cli._device import AudioPlayback
from realtalk.transports import PCM24K_RATE

if TYPE_CHECKING:
    from realtalk.app_server import RealtimeAudioChunk

__all__ = ["SafePlayback", "WavSink", "close_outputs"]

logger = logging.getLogger(__name__)


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


class SafePlayback:
    """The speaker behind a guard: its first failure is reported once and turns it off."""

    def __init__(self, playback: AudioPlayback, report: Callable[[str], None]) -> None:
        self._playback: AudioPlayback | None = playback
        self._report = report

    def play(self, pcm24k: bytes) -> None:
        if self._playback is not None:
            try:
                self._playback.play(pcm24k)
            except Exception as exc:  # a vanished device must not end the conversation
                self._fail(exc)

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

"""Spoken answers for the emulator: espeak-ng text-to-speech, as pcm24k.

The scripted model's answers are synthesised by ``espeak-ng`` (Debian package
``espeak-ng``), run as an asyncio subprocess so the event loop never waits on it.
espeak-ng writes 22,050 Hz mono WAV; PyAV's resampler (libswresample, already
installed with aiortc, which the emulator's call media uses too) turns it into the
session's 24 kHz mono PCM16.

* Only audio responses synthesise: text-only sessions never start espeak-ng.
* Results are cached (LRU, bounded by bytes), so repeated answers ("Okay.",
  "How can I help?") cost nothing after the first time.
* At most ``_MAX_CONCURRENT`` espeak-ng processes run at once, each bounded by a
  timeout; a failure or timeout is logged and that answer falls back to the tone.
* Without espeak-ng on ``PATH`` the emulator speaks the old quiet tone instead and
  logs one warning saying so (once per process).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import wave
import weakref
from collections import OrderedDict
from typing import Final

from realtalk.emulator._pcm import resample_mono

__all__ = ["ESPEAK_PROGRAM", "SpeechSynthesizer", "espeak_voice", "shared_synthesizer"]

logger = logging.getLogger(__name__)

ESPEAK_PROGRAM: Final = "espeak-ng"
_RATE: Final = 24_000  # the session audio: 24 kHz mono PCM16
_SPEED_WPM: Final = 165  # a calm speaking rate (espeak-ng's default is 175)
_MAX_CONCURRENT: Final = 4
_CACHE_BYTES: Final = 32 * 1024 * 1024  # about 11 minutes of pcm24k
_BASE_TIMEOUT_S: Final = 10.0
_MAX_TEXT_CHARS: Final = 20_000  # longer answers are cut (about 20 minutes of speech)

# Realtime API voices -> espeak-ng voice variants (US English, female or male timbre).
_FEMALE: Final = frozenset({"alloy", "coral", "fable", "marin", "nova", "sage", "shimmer"})
_MALE: Final = frozenset({"ash", "ballad", "cedar", "echo", "onyx", "verse"})


def espeak_voice(voice: str) -> str:
    """The espeak-ng voice that stands in for a realtime API ``voice``."""
    name = voice.lower()
    if name in _MALE:
        return "en-us+m3"
    if name in _FEMALE:
        return "en-us+f3"
    return "en-us"


def _wav_to_pcm24k(wav: bytes) -> bytes:
    """Decode espeak-ng's WAV (its header has no real length) and resample to pcm24k."""
    with wave.open(io.BytesIO(wav), "rb") as reader:
        rate = reader.getframerate()
        channels = reader.getnchannels()
        width = reader.getsampwidth()
        # The streamed header claims ~2**31 frames: read what is actually there.
        pcm = reader.readframes(len(wav))
    if width != 2 or channels != 1:
        raise ValueError(f"unexpected espeak-ng output: {channels} channels, {width * 8}-bit")
    return resample_mono(pcm, in_rate=rate, out_rate=_RATE)


class SpeechSynthesizer:
    """Text to pcm24k with espeak-ng; ``None`` means "use the tone instead".

    Args:
        program: The espeak-ng executable (name on ``PATH`` or a path); ``None``
            disables synthesis.
        cache_bytes: Bound of the answer cache (least recently used goes first).
    """

    def __init__(
        self, program: str | None = ESPEAK_PROGRAM, *, cache_bytes: int = _CACHE_BYTES
    ) -> None:
        self._program_name = program
        self._resolved = False
        self._program: str | None = None
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_bytes = 0
        # One bound per event loop: a semaphore must not be shared between loops.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def program(self) -> str | None:
        """The resolved espeak-ng path, or ``None`` when it is not installed."""
        if not self._resolved:
            self._resolved = True
            name = self._program_name
            self._program = shutil.which(name) if name else None
            if self._program is None and name:
                logger.warning(
                    "espeak-ng is not installed: the emulator answers with a tone instead of "
                    "speech (install it, e.g. apt-get install espeak-ng)",
                    extra={"program": name},
                )
        return self._program

    async def synthesize(self, text: str, voice: str) -> bytes | None:
        """``text`` spoken in ``voice`` as pcm24k, or ``None`` (no TTS, or it failed)."""
        program = self.program
        text = text.strip()[:_MAX_TEXT_CHARS]
        if program is None or not text:
            return None
        key = (text, espeak_voice(voice))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(_MAX_CONCURRENT)
        async with slots:
            wav = await self._run(program, text, key[1])
        if wav is None:
            return None
        try:
            pcm = await asyncio.to_thread(_wav_to_pcm24k, wav)
        except (ValueError, EOFError, wave.Error) as exc:
            logger.warning("espeak-ng output could not be decoded", extra={"error": str(exc)})
            return None
        self._remember(key, pcm)
        return pcm

    async def _run(self, program: str, text: str, voice: str) -> bytes | None:
        # Text goes through stdin (never argv): no option injection, no length limit.
        argv = [program, "--stdout", "--stdin", "-b", "1", "-v", voice, "-s", str(_SPEED_WPM)]
        timeout = _BASE_TIMEOUT_S + len(text) / 100
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            logger.warning("could not start espeak-ng", extra={"error": str(exc)})
            return None
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate(text.encode("utf-8"))
        except TimeoutError:
            logger.warning("espeak-ng timed out", extra={"timeout_s": timeout})
            return None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.returncode != 0 or len(out) <= 44:
            logger.warning(
                "espeak-ng failed",
                extra={
                    "returncode": proc.returncode,
                    "stderr": err.decode(errors="replace")[-300:],
                },
            )
            return None
        return out

    def _remember(self, key: tuple[str, str], pcm: bytes) -> None:
        if len(pcm) > self._cache_bytes:
            return
        self._cache[key] = pcm
        self._cached_bytes += len(pcm)
        while self._cached_bytes > self._cache_bytes:
            _key, old = self._cache.popitem(last=False)
            self._cached_bytes -= len(old)


_shared: SpeechSynthesizer | None = None


def shared_synthesizer() -> SpeechSynthesizer:
    """The process-wide synthesizer (one cache for every emulator session)."""
    global _shared
    if _shared is None:
        _shared = SpeechSynthesizer()
    return _shared

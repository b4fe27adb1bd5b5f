"""Offline recognition of the user's speech for the emulator (pocketsphinx).

pocketsphinx (PyPI, optional extra ``realtalk[speech]``) ships a US English acoustic
model, a dictionary and a general language model. Its general model alone hears
synthetic speech badly ("agent, list the files" -> "the final"), so recognition is
constrained first and free only as a fallback. For one committed utterance, in a
worker thread (never on the event loop):

1. The utterance (at most ``MAX_UTTERANCE_S``, from just before speech started) is
   resampled to 16 kHz (PyAV) and gets a faint seeded noise floor (RMS ~50 of 32767,
   about -56 dBFS). Synthetic audio (espeak-ng, generated WAVs) holds runs of exact
   digital silence that derail the decoder's feature normalisation; measured on
   espeak-ng phrases, the grammar pass went from 3 of 8 right to 10 of 10 with a floor.
   Real microphones have such a floor anyway.
2. Audio that is not speech-like is not recognised: a steady tone, hum or hiss has
   near-constant zero-crossing rates from one 20 ms frame to the next, speech does
   not (see :func:`speech_like`).
3. A JSGF grammar of the emulator's own phrases ("agent, list the files", "ask the
   agent to run the tests", "stay silent", "stop", ...), decoded over three noise
   floors (seeds). A floor's result counts when the search reached the end of the
   grammar (pocketsphinx otherwise returns a partial path) and its acoustic score per
   frame is not far below what real matches get; the phrase counted most often wins.
   One floor alone lost "stop" on some voices; three got all 162 phrases of
   ``realtalk bench speech`` right, with no free sentence taken for a command.
4. Otherwise free dictation with pocketsphinx's general English model.

The result is sentence-cased with the punctuation the scripted rules look for
("Agent, list the files."). ``None`` means nothing was recognised; the emulator then
keeps its placeholder transcript ``(speech X.Xs)``.

One decoder serves the whole process on one worker thread (decoders are not thread
safe); it is loaded on first use, or early with :meth:`SpeechRecognizer.prepare`
when speech starts. Without pocketsphinx every result is ``None`` and one warning
says so.
"""

from __future__ import annotations

import array
import asyncio
import collections
import concurrent.futures
import functools
import itertools
import logging
import math
import operator
import random
import re
import sys
import threading
from typing import Any, Final

from realtalk.emulator._pcm import resample_mono

__all__ = [
    "COMMAND_GRAMMAR",
    "MAX_UTTERANCE_S",
    "SpeechRecognizer",
    "format_transcript",
    "shared_recognizer",
    "speech_like",
]

logger = logging.getLogger(__name__)

MAX_UTTERANCE_S: Final = 15  # longer turns are recognised from their first 15 s
_IN_RATE: Final = 24_000
_RATE: Final = 16_000
_NOISE_RMS: Final = 50.0
# Three noise floors: the grammar pass runs once per floor and the phrase accepted most
# often wins, so one unlucky noise draw cannot lose a short word like "stop".
_NOISE_SEEDS: Final = (20_240_601, 7_919, 104_729)
_NOISE_PEAK: Final = 250  # 5 sigma
# Per-frame acoustic log-likelihood of the grammar path, per noise floor. On the
# espeak-ng set of ``realtalk bench speech`` real phrases scored -1.3 to -3.0 and free
# sentences forced onto a phrase -3.5 to -5.2 (and lower).
_MIN_GRAMMAR_SCORE: Final = -3.4
_VOICED_RMS: Final = 300.0
_MIN_VOICED_FRAMES: Final = 5
_MIN_ZCR_VARIATION: Final = 0.25

# The emulator's phrases. The JSGF grammar and the completeness check are both built
# from these, so they cannot disagree.
_OPENINGS: Final = ("agent",)
_TASKS: Final = ("list the files", "run the tests")
_ALONE: Final = ("stay silent", "stop")

COMMAND_GRAMMAR: Final = f"""#JSGF V1.0;
grammar realtalk;
public <utterance> = <agent> <task> | ask the agent [to] <task> | <task> | {" | ".join(_ALONE)};
<agent> = {" | ".join(_OPENINGS)};
<task> = {" | ".join(_TASKS)};
"""
_COMMAND_SEARCH: Final = "realtalk_commands"
_FREE_SEARCH: Final = "_default"
_AGENT_OPENING: Final = re.compile(rf"^({'|'.join(_OPENINGS)}) (?=\S)")


def _samples(pcm: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def speech_like(pcm: bytes, *, rate: int = _IN_RATE) -> bool:
    """Does PCM16 audio vary like speech (rather than a steady tone, hum or hiss)?

    Looks at the 20 ms frames loud enough to be voice: speech alternates voiced
    sounds (few zero crossings) with fricatives and pauses (many), so the frames'
    zero-crossing rates vary widely; a tone or stationary noise keeps one rate.
    """
    samples = _samples(pcm)
    frame = rate // 50
    rates: list[float] = []
    for start in range(0, len(samples) - frame + 1, frame):
        chunk = samples[start : start + frame]
        energy = math.sqrt(sum(s * s for s in chunk) / frame)
        if energy < _VOICED_RMS:
            continue
        crossings = sum(1 for a, b in zip(chunk, chunk[1:], strict=False) if (a < 0) != (b < 0))
        rates.append(crossings / frame)
    if len(rates) < _MIN_VOICED_FRAMES:
        return False
    mean = sum(rates) / len(rates)
    if mean == 0:
        return False
    spread = math.sqrt(sum((r - mean) ** 2 for r in rates) / len(rates))
    return spread / mean >= _MIN_ZCR_VARIATION


@functools.cache
def _noise_table(seed: int) -> array.array[int]:
    """One second of seeded Gaussian noise at ``_NOISE_RMS``, clipped to +-``_NOISE_PEAK``."""
    noise = random.Random(seed)
    return array.array(
        "h",
        (
            max(-_NOISE_PEAK, min(_NOISE_PEAK, round(noise.gauss(0.0, _NOISE_RMS))))
            for _ in range(_RATE)
        ),
    )


def _with_noise_floor(pcm16k: bytes, seed: int = _NOISE_SEEDS[0]) -> bytes:
    samples = _samples(pcm16k)
    if not samples:
        return b""
    limit = 32767 - _NOISE_PEAK
    if max(samples) > limit or min(samples) < -limit:  # rare: make room for the noise
        samples = array.array("h", (max(-limit, min(limit, s)) for s in samples))
    noise = itertools.islice(itertools.cycle(_noise_table(seed)), len(samples))
    mixed = array.array("h", map(operator.add, samples, noise))
    if sys.byteorder == "big":
        mixed.byteswap()
    return mixed.tobytes()


def format_transcript(words: str) -> str:
    """Decoder words -> a transcript: "agent list the files" -> "Agent, list the files."."""
    text = " ".join(words.split())
    if not text:
        return ""
    text = _AGENT_OPENING.sub(r"\1, ", text)
    return text[0].upper() + text[1:] + "."


class SpeechRecognizer:
    """pocketsphinx on one worker thread; :meth:`recognize` never blocks the loop."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="emulator-asr"
        )
        self._lock = threading.RLock()
        self._decoder: Any = None
        self._unavailable = False

    def prepare(self) -> None:
        """Start loading the model in the background (e.g. when speech starts)."""
        if self._decoder is None and not self._unavailable:
            self._executor.submit(self._load)

    async def recognize(self, pcm24k: bytes) -> str | None:
        """The transcript of one utterance (pcm24k), or ``None`` if nothing was recognised."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.recognize_blocking, pcm24k)

    def recognize_blocking(self, pcm24k: bytes) -> str | None:
        """Same as :meth:`recognize`, in the calling thread (tools and tests)."""
        pcm24k = pcm24k[: MAX_UTTERANCE_S * _IN_RATE * 2]
        if not speech_like(pcm24k):
            return None
        with self._lock:
            decoder = self._load()
            if decoder is None:
                return None
            pcm16k = resample_mono(pcm24k, in_rate=_IN_RATE, out_rate=_RATE)
            floors = [_with_noise_floor(pcm16k, seed) for seed in _NOISE_SEEDS]
            votes = collections.Counter(
                words
                for pcm in floors
                if (words := self._decode_commands(decoder, pcm)) is not None
            )
            if votes:
                words = votes.most_common(1)[0][0]
            else:
                words = self._decode(decoder, _FREE_SEARCH, floors[0])
        text = format_transcript(words or "")
        return text or None

    def _load(self) -> Any:
        with self._lock:
            if self._decoder is not None or self._unavailable:
                return self._decoder
            try:
                from pocketsphinx import Decoder
            except ImportError:
                self._unavailable = True
                logger.warning(
                    "pocketsphinx is not installed: the emulator transcribes spoken input as "
                    "'(speech X.Xs)' (install realtalk[speech] to recognise it)"
                )
                return None
            try:
                decoder = Decoder(samprate=_RATE, loglevel="FATAL")
                decoder.add_jsgf_string(_COMMAND_SEARCH, COMMAND_GRAMMAR)
            except (RuntimeError, ValueError) as exc:
                self._unavailable = True
                logger.warning("pocketsphinx could not load its model", extra={"error": str(exc)})
                return None
            self._decoder = decoder
            return decoder

    def _decode(self, decoder: Any, search: str, pcm: bytes) -> str | None:
        decoder.activate_search(search)
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp is not None else None

    def _decode_commands(self, decoder: Any, pcm: bytes) -> str | None:
        words = self._decode(decoder, _COMMAND_SEARCH, pcm)
        if not words or not _in_grammar(words):
            return None
        frames = decoder.n_frames()
        log_score = sum(_log(seg.ascore) for seg in decoder.seg() or ())
        if frames <= 0 or log_score / frames < _MIN_GRAMMAR_SCORE:
            return None
        return str(words)


def _log(probability: float) -> float:
    return math.log(probability) if probability > 0 else -1e6


_TASK = "(?:" + "|".join(_TASKS) + ")"
_COMPLETE: Final = re.compile(
    rf"^(?:(?:(?:{'|'.join(_OPENINGS)}) )?{_TASK}|ask the agent (?:to )?{_TASK}|{'|'.join(_ALONE)})$"
)


def _in_grammar(words: str) -> bool:
    """Did the grammar search end in a complete phrase (not a partial path)?"""
    return _COMPLETE.match(" ".join(words.split())) is not None


_shared: SpeechRecognizer | None = None


def shared_recognizer() -> SpeechRecognizer:
    """The process-wide recognizer (one model in memory for every session)."""
    global _shared
    if _shared is None:
        _shared = SpeechRecognizer()
    return _shared

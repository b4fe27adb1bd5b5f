"""``realtalk bench speech``: the emulator's offline speech, measured.

Recognition: espeak-ng speaks the emulator's phrases and some free sentences in
several voices and speeds; each WAV goes through the emulator's recognizer (the same
code path as a committed audio turn, without sockets).

* ``commands.exact``: share of phrases transcribed exactly ("Agent, list the files.").
* ``commands.intent``: share that the scripted model treats as intended (delegate,
  stay silent, or answer), which is what a user notices.
* ``free.word_error_rate``: word error rate of free sentences (dictation fallback);
  ``free.taken_for_commands``: free sentences that came out as one of the phrases.
* ``recognize_ms``: the first utterance (model load included), then median and p95
  per utterance. Command phrases take the fast grammar pass; free sentences also
  pay the dictation pass.

Spoken answers: ``tts_ms`` is the time to synthesise a short and a long answer
(cold, then cached), and ``first_audio_ms`` the time from ``response.create`` to the
first output audio over a realtime WebSocket (``response.output_audio.delta``) and
over a WebRTC call (first audible frame on the track), emulator paced in real time.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from realtalk._errors import ConfigError
from realtalk.bench._util import percentile

__all__ = ["bench_speech"]

COMMANDS: Final = (
    "agent, list the files",
    "agent, run the tests",
    "ask the agent to list the files",
    "ask the agent to run the tests",
    "list the files",
    "run the tests",
    "stay silent",
    "stop",
)
FREE: Final = (
    "please open the window",
    "hello how are you today",
    "what is the weather like in paris",
    "good morning",
    "I would like a cup of tea",
    "the meeting starts at noon",
)
VOICES: Final = ("en", "en-us", "en-us+f2", "en-us+m3", "en-gb-x-rp", "en-us+klatt")
SPEEDS: Final = (140, 175, 210)
_SHORT_ANSWER: Final = "Okay."
_LONG_ANSWER: Final = (
    "The agent says: I listed the files in the workspace. There are twelve of them, "
    "including the readme, the makefile and the project file, and the tests all pass."
)


def _words(text: str) -> list[str]:
    return [w.strip(".,!?").lower() for w in text.split() if w.strip(".,!?")]


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def _intent(text: str) -> str:
    """What the scripted model does with ``text``: handoff, nothing (stay silent), speak."""
    from realtalk.emulator._script import InputKind, LastInput, plan_response

    # v1 needs no declared tools; its triggers are the same as v2's.
    return plan_response(LastInput(InputKind.USER_TEXT, text), None, v1=True).kind.value


def _espeak(path: Path, text: str, voice: str, speed: int) -> None:
    try:
        subprocess.run(
            ["espeak-ng", "-w", str(path), "-v", voice, "-s", str(speed), text],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except FileNotFoundError as exc:
        raise ConfigError("bench speech needs espeak-ng: apt-get install espeak-ng") from exc


def _recognition(
    voices: tuple[str, ...], speeds: tuple[int, ...], free_sentences: tuple[str, ...]
) -> dict[str, Any]:
    from realtalk.emulator._asr import SpeechRecognizer, _in_grammar, format_transcript
    from realtalk.transports import read_wav_pcm24k

    try:
        import pocketsphinx  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "bench speech needs pocketsphinx: pip install 'realtalk[speech]'"
        ) from exc
    recognizer = SpeechRecognizer()
    timings: list[float] = []
    exact = intent = commands = 0
    errors = words = taken = free = 0
    misheard: list[dict[str, str]] = []
    # voice -> [commands, exact, free words, free word errors]
    per_voice: dict[str, list[int]] = {voice: [0, 0, 0, 0] for voice in voices}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "spoken.wav"
        _espeak(wav, "hello", voices[0], speeds[0])
        started = time.perf_counter()
        recognizer.recognize_blocking(read_wav_pcm24k(wav))  # loads the model
        load_ms = (time.perf_counter() - started) * 1000
        for voice in voices:
            for speed in speeds:
                for text in COMMANDS + free_sentences:
                    _espeak(wav, text, voice, speed)
                    pcm = read_wav_pcm24k(wav) + bytes(24_000)
                    started = time.perf_counter()
                    heard = recognizer.recognize_blocking(pcm) or ""
                    timings.append((time.perf_counter() - started) * 1000)
                    if text in COMMANDS:
                        commands += 1
                        expected = format_transcript(text.replace(",", ""))
                        exact += heard == expected
                        per_voice[voice][0] += 1
                        per_voice[voice][1] += heard == expected
                        intent += _intent(heard) == _intent(expected)
                        if heard != expected and len(misheard) < 20:
                            misheard.append({"said": text, "heard": heard, "voice": voice})
                    else:
                        free += 1
                        ref = _words(text)
                        wrong = _edit_distance(ref, _words(heard))
                        errors += wrong
                        words += len(ref)
                        per_voice[voice][2] += len(ref)
                        per_voice[voice][3] += wrong
                        taken += _in_grammar(" ".join(_words(heard)))
    return {
        "voices": list(voices),
        "speeds_wpm": list(speeds),
        "commands": {
            "utterances": commands,
            "exact": round(exact / commands, 3),
            "intent": round(intent / commands, 3),
        },
        "free": {
            "utterances": free,
            "word_error_rate": round(errors / words, 3),
            "taken_for_commands": taken,
        },
        "recognize_ms": {
            "first_with_model_load": round(load_ms, 1),
            "median": round(statistics.median(timings), 1),
            "p95": round(percentile(timings, 95), 1),
        },
        "by_voice": {
            voice: {
                "commands_exact": round(c[1] / c[0], 3),
                "free_word_error_rate": round(c[3] / c[2], 3),
            }
            for voice, c in per_voice.items()
        },
        "misheard_commands": misheard,
    }


async def _tts_latency() -> dict[str, float]:
    from realtalk.emulator._tts import SpeechSynthesizer

    result: dict[str, float] = {}
    synthesizer = SpeechSynthesizer()
    for name, text in (("short", _SHORT_ANSWER), ("long", _LONG_ANSWER)):
        audio_s = 0.0
        for phase in ("cold", "cached"):
            started = time.perf_counter()
            pcm = await synthesizer.synthesize(text, "alloy")
            result[f"{name}_{phase}"] = round((time.perf_counter() - started) * 1000, 1)
            if pcm is None:
                raise ConfigError("espeak-ng is missing or failed: apt-get install espeak-ng")
            audio_s = len(pcm) / 48_000
        result[f"{name}_audio_s"] = round(audio_s, 2)
    return result


async def _first_audio_ws(base_ws: str, text: str) -> float:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{base_ws}/realtime?model=bench", max_msg_size=0) as ws,
    ):
        await ws.receive_str()  # session.created
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        await ws.send_str(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send_str(json.dumps({"type": "response.create"}))
        started = time.perf_counter()
        async with asyncio.timeout(30):
            while True:
                event = json.loads(await ws.receive_str())
                if event["type"] == "response.output_audio.delta":
                    return (time.perf_counter() - started) * 1000


async def _first_audio_webrtc(emulator: Any, text: str) -> float:
    import aiohttp

    from realtalk.transports import WebRtcPeer

    heard = asyncio.Event()
    peer = WebRtcPeer(loopback_only=True)

    def on_audio(pcm: bytes) -> None:
        # Audible: some sample's magnitude reaches 256 (its high byte is not 0x00/0xff).
        if not heard.is_set() and any(high not in (0, 255) for high in pcm[1::2]):
            heard.set()

    peer.on_audio = on_audio
    try:
        offer = await peer.create_offer()
        url = emulator.base_url + "/realtime/calls"
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=offer.encode(), headers={"Content-Type": "application/sdp"}) as r,
        ):
            answer = await r.text()
        await peer.accept_answer(answer)
        await peer.wait_connected(timeout=10)
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        await peer.send_event({"type": "conversation.item.create", "item": item})
        await peer.send_event({"type": "response.create"})
        created = time.perf_counter()
        async with asyncio.timeout(30):
            await heard.wait()
        return (time.perf_counter() - created) * 1000
    finally:
        await peer.aclose()


async def _first_audio(rounds: int) -> dict[str, float]:
    from realtalk.emulator import Emulator, EmulatorOptions

    ws: list[float] = []
    rtc: list[float] = []
    async with Emulator(EmulatorOptions(audio_realtime=True)) as emulator:
        for i in range(rounds):
            text = f"first audio check number {i}"  # new text: not in the TTS cache
            ws.append(await _first_audio_ws(emulator.ws_base_url, text))
            rtc.append(await _first_audio_webrtc(emulator, text + " again"))
    return {
        "websocket_median": round(statistics.median(ws), 1),
        "webrtc_median": round(statistics.median(rtc), 1),
        "rounds": rounds,
    }


async def bench_speech(*, quick: bool = False, rounds: int = 5) -> dict[str, Any]:
    """Run the speech benchmark (``quick``: one voice, one speed, two free sentences)."""
    if quick:
        recognition = await asyncio.to_thread(_recognition, VOICES[:1], SPEEDS[1:2], FREE[:2])
    else:
        recognition = await asyncio.to_thread(_recognition, VOICES, SPEEDS, FREE)
    return {
        "benchmark": "speech",
        "recognition": recognition,
        "tts_ms": await _tts_latency(),
        "first_audio_ms": await _first_audio(1 if quick else rounds),
    }

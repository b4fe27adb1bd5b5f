"""``realtalk bench peer``: realtalk's client against openai-agents' ``RealtimeSession``.

Both clients talk to the same emulator (another process, ``--fast-audio``: output audio
is sent as fast as the socket takes it, as the real API streams WebSocket audio) in
one run, turn about, so drift on a busy machine hits both alike:

* **first delta**: the user's text is handed to the client (``text_in`` then
  ``request_response`` / ``send_message``) until the application holds the answer's first output delta
  (audio or transcript); a short answer, repeated ``rounds`` times per client;
* **deltas per second**: a long answer (``words`` words asked for, by default 2,000:
  about 3,200 audio deltas of 20 ms, which realtalk drains in ~15 ms and openai-agents
  in ~80 ms), from its first audio delta to its end as the application sees them,
  best of fifteen per client: one scheduler hiccup or the emulator's own turn can halve
  a single run, and noise only ever slows one down. The client process's CPU per
  delta comes with it, and ``cpu_per_delta_ratio`` (theirs ÷ ours), which hardly
  moves with load, stands beside the rate ratio.

Every answer's text is synthesised once before anything is measured (the emulator
caches its speech), so both clients get the same bytes at the same cost. openai-agents
is an optional extra of the benchmark (``pip install openai-agents``); without it the
benchmark says so and exits 1.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from realtalk._config import Settings
from realtalk._errors import ConfigError, RealtalkError
from realtalk._loop import loop_name
from realtalk.bench._util import realtalk_argv, spawn_ready
from realtalk.conversation import (
    ConversationManager,
    Realtime,
    Started,
    StartParams,
    Subscription,
    WebSocketTransport,
)
from realtalk.protocol import AudioOut, OutputTranscriptDelta, TurnDone

__all__ = ["bench_peer"]

_AGENTS_MISSING: Final = (
    "bench peer compares realtalk with openai-agents' RealtimeSession, which is not "
    "installed: pip install openai-agents (or pip install -e '.[dev]' in a checkout)"
)
_TURN_TIMEOUT_S: Final = 120.0
_SHORT_TEXT: Final = "hello there"
_LONG_ROUNDS: Final = 15


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _long_text(words: int) -> str:
    vocabulary = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    return " ".join(vocabulary[i % len(vocabulary)] for i in range(words))


class _Turn:
    """What one answer looked like from the application: times and delta counts."""

    def __init__(self) -> None:
        self.t_sent = 0.0
        self.t_first: float | None = None
        self.t_first_audio: float | None = None
        self.t_end = 0.0
        self.audio = 0
        self.transcript = 0
        self.cpu = 0.0

    def delta(self, *, audio: bool) -> None:
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        if audio:
            if self.t_first_audio is None:
                self.t_first_audio = now
            self.audio += 1
        else:
            self.transcript += 1

    @property
    def first_delta_ms(self) -> float:
        if self.t_first is None:
            raise RealtalkError("an answer ended without an output delta")
        return (self.t_first - self.t_sent) * 1000.0

    @property
    def audio_deltas_per_s(self) -> float:
        if self.t_first_audio is None or self.audio < 2:
            raise RealtalkError("a long answer brought no audio")
        return self.audio / max(1e-9, self.t_end - self.t_first_audio)


Client = Callable[[str], Awaitable[_Turn]]


class _Ours:
    """realtalk: a ConversationManager over the WebSocket transport, one subscriber."""

    def __init__(self, base_url: str) -> None:
        settings = Settings(
            api_key="bench", base_url=base_url, startup_context="", transport="websocket"
        )
        self.manager = ConversationManager(settings)
        self.sub: Subscription = self.manager.subscribe()

    async def start(self) -> None:
        await self.manager.start(StartParams(transport=WebSocketTransport()))
        async with asyncio.timeout(_TURN_TIMEOUT_S):
            async for event in self.sub:
                if isinstance(event, Started):
                    return

    async def turn(self, text: str) -> _Turn:
        turn = _Turn()
        cpu0 = _cpu_s()
        turn.t_sent = time.perf_counter()
        await self.manager.text_in(text)
        await self.manager.request_response()  # typed text alone is append-only
        async with asyncio.timeout(_TURN_TIMEOUT_S):
            async for event in self.sub:
                if not isinstance(event, Realtime):
                    continue
                payload = event.payload
                if isinstance(payload, AudioOut):
                    turn.delta(audio=True)
                elif isinstance(payload, OutputTranscriptDelta):
                    turn.delta(audio=False)
                elif isinstance(payload, TurnDone):  # after response.done: nothing is owed
                    break
        turn.t_end = time.perf_counter()
        turn.cpu = _cpu_s() - cpu0
        return turn

    async def aclose(self) -> None:
        await self.manager.aclose()


class _Theirs:
    """openai-agents: RealtimeRunner(RealtimeAgent).run(), events read from the session."""

    def __init__(self, ws_url: str) -> None:
        from agents.realtime import RealtimeAgent, RealtimeRunner

        agent: Any = RealtimeAgent(name="bench", instructions="Answer.")
        self._runner = RealtimeRunner(agent, config={"tracing_disabled": True})
        self._url = ws_url
        self.session: Any = None

    async def start(self) -> None:
        self.session = await self._runner.run(model_config={"url": self._url, "api_key": "bench"})
        await self.session.__aenter__()

    async def turn(self, text: str) -> _Turn:
        turn = _Turn()
        cpu0 = _cpu_s()
        turn.t_sent = time.perf_counter()
        await self.session.send_message(text)
        async with asyncio.timeout(_TURN_TIMEOUT_S):
            async for event in self.session:
                kind = event.type
                if kind == "audio":
                    turn.delta(audio=True)
                elif kind == "raw_model_event" and event.data.type == "transcript_delta":
                    turn.delta(audio=False)
                elif kind == "agent_end":
                    break
        turn.t_end = time.perf_counter()
        turn.cpu = _cpu_s() - cpu0
        return turn

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.__aexit__(None, None, None)


def _require_agents() -> None:
    os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # it would call the API
    try:
        import agents.realtime  # noqa: F401
    except ImportError:
        raise ConfigError(_AGENTS_MISSING) from None


async def bench_peer(rounds: int = 20, words: int = 2000) -> dict[str, Any]:
    """Run the comparison (see the module docs); returns the JSON-ready report."""
    if rounds < 1 or words < 1:
        raise ValueError("rounds and words must be >= 1")
    _require_agents()
    long_text = _long_text(words)
    argv = realtalk_argv("emulator", "--port", "0", "--fast-audio")
    async with spawn_ready(argv) as (base_url, _):
        ws_url = base_url.replace("http://", "ws://", 1) + "/realtime?model=gpt-realtime"
        ours, theirs = _Ours(base_url), _Theirs(ws_url)
        try:
            await ours.start()
            await theirs.start()
            for client in (ours, theirs):  # warm-up: imports, codecs, the speech cache
                await client.turn(_SHORT_TEXT)
                await client.turn(long_text)
            first: dict[str, list[float]] = {"ours": [], "theirs": []}
            for index in range(rounds):
                pair = (("ours", ours), ("theirs", theirs))
                for name, client in pair if index % 2 == 0 else pair[::-1]:
                    first[name].append((await client.turn(_SHORT_TEXT)).first_delta_ms)
            longs: dict[str, list[_Turn]] = {"ours": [], "theirs": []}
            for index in range(_LONG_ROUNDS):
                pair = (("ours", ours), ("theirs", theirs))
                for name, client in pair if index % 2 == 0 else pair[::-1]:
                    longs[name].append(await client.turn(long_text))
        finally:
            await ours.aclose()
            await theirs.aclose()
    return _report(rounds, words, first, longs)


def _report(
    rounds: int, words: int, first: dict[str, list[float]], longs: dict[str, list[_Turn]]
) -> dict[str, Any]:
    def side(turns: list[_Turn], firsts: list[float]) -> dict[str, Any]:
        # The best long answer: noise (other processes, the emulator's own turns) only
        # ever slows one down. The median is there to show the spread.
        rates = [turn.audio_deltas_per_s for turn in turns]
        cpu = [turn.cpu / max(1, turn.audio + turn.transcript) * 1e6 for turn in turns]
        return {
            "first_delta_ms_median": round(statistics.median(firsts), 3),
            "first_delta_ms_min": round(min(firsts), 3),
            "audio_deltas": turns[0].audio,
            "transcript_deltas": turns[0].transcript,
            "deltas_per_s": round(max(rates)),
            "deltas_per_s_median": round(statistics.median(rates)),
            "cpu_us_per_delta": round(min(cpu), 2),
        }

    mine, peer = side(longs["ours"], first["ours"]), side(longs["theirs"], first["theirs"])
    return {
        "loop": loop_name(),
        "rounds": rounds,
        "words": words,
        "realtalk": mine,
        "openai_agents": peer,
        "deltas_per_s_ratio": round(mine["deltas_per_s"] / peer["deltas_per_s"], 2),
        "first_delta_ratio": round(
            mine["first_delta_ms_median"] / peer["first_delta_ms_median"], 3
        ),
        "cpu_per_delta_ratio": round(peer["cpu_us_per_delta"] / mine["cpu_us_per_delta"], 2),
    }

"""``realtalk bench``: benchmarks that print one JSON object each.

All traffic stays on loopback. Where a figure is compared with a baseline, both
are measured in the same run, since this machine's timings are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from realtalk._argtypes import count_arg, non_negative_arg, seconds_arg
from realtalk._benchutil import percentile, realtalk_argv, spawn_ready
from realtalk._config import Settings

__all__ = ["add_bench_arguments", "run_bench"]

BenchFn = Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", required=True)
    relay = sub.add_parser("relay", help="S sessions streaming audio both ways")
    relay.add_argument("--sessions", type=count_arg, default=100)
    relay.add_argument("--seconds", type=seconds_arg, default=5.0)
    parse = sub.add_parser("parse", help="server events parsed and dispatched per second")
    parse.add_argument("--events", type=count_arg, default=300_000)
    for name, helptext in (
        ("handoff", "agent final message to response.create, audio gaps while a task runs"),
        ("startup", "WebRTC start: SDP answer before the sideband, vs a sequential baseline"),
        ("preconnect", "Responses turn start to first request, with and without preconnect"),
        ("app-server", "realtime threads over one app-server WebSocket listener"),
        ("speech", "offline speech: recognition accuracy on espeak-ng, TTS first audio"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--json", action="store_true")
        if name == "handoff":
            p.add_argument("--rounds", type=count_arg, default=5)
            p.add_argument("--work-ms", type=non_negative_arg, default=1000)
        if name == "startup":
            p.add_argument("--starts", type=count_arg, default=20)
            p.add_argument("--call-latency-ms", type=non_negative_arg, default=300)
            p.add_argument("--sideband-latency-ms", type=non_negative_arg, default=400)
        if name == "preconnect":
            p.add_argument("--turns", type=count_arg, default=10)
            p.add_argument("--handshake-latency-ms", type=non_negative_arg, default=300)
        if name == "speech":
            p.add_argument("--rounds", type=count_arg, default=5)
            p.add_argument("--quick", action="store_true", help="one voice and speed")
        if name == "app-server":
            p.add_argument("--threads", type=count_arg, default=100)
            p.add_argument("--seconds", type=seconds_arg, default=5.0)
    for p in (relay, parse):
        p.add_argument("--json", action="store_true", help="print JSON (the only format)")


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover - Linux only


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _bench_relay(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.conversation import ConversationManager, Realtime, Started, StartParams
    from realtalk.conversation import WebSocketTransport as Ws
    from realtalk.protocol import AudioFrame, AudioOut

    sessions, seconds = args.sessions, args.seconds
    frame = AudioFrame(base64.b64encode(bytes(960)).decode("ascii"))
    async with spawn_ready(realtalk_argv("emulator", "--port", "0", "--echo-audio")) as (base, _):
        settings = Settings(
            api_key="bench", base_url=base, startup_context="", transport="websocket"
        )
        rss0 = _rss_kb()
        managers = [ConversationManager(settings) for _ in range(sessions)]
        arrivals: list[list[float]] = [[] for _ in range(sessions)]
        started = 0
        all_started = asyncio.Event()
        measuring = False

        async def consume(i: int, mgr: ConversationManager) -> None:
            nonlocal started
            times = arrivals[i]
            async for event in mgr.subscribe():
                if isinstance(event, Started):
                    started += 1
                    if started == sessions:
                        all_started.set()
                elif (
                    measuring
                    and isinstance(event, Realtime)
                    and isinstance(event.payload, AudioOut)
                ):
                    times.append(time.perf_counter())

        async with asyncio.TaskGroup() as tg:
            consumers = [tg.create_task(consume(i, m)) for i, m in enumerate(managers)]
            for m in managers:
                await m.start(StartParams(transport=Ws()))
            async with asyncio.timeout(60):
                await all_started.wait()
            rss1 = _rss_kb()
            measuring = True
            cpu0, t0 = _cpu_s(), time.perf_counter()
            tick = 0
            while time.perf_counter() - t0 < seconds:
                for m in managers:
                    await m.audio_in(frame)
                tick += 1
                delay = t0 + tick * 0.02 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.sleep(0.1)  # let the last echoes land (not synchronisation)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
            measuring = False
            for m in managers:
                await m.aclose()
            for c in consumers:
                c.cancel()
    gaps = [(b - a) * 1000.0 for times in arrivals for a, b in zip(times, times[1:], strict=False)]
    delivered = sum(len(t) for t in arrivals)
    return {
        "sessions": sessions,
        "seconds": seconds,
        "frames_per_s": round(delivered / wall, 1),
        "p50_ms": round(percentile(gaps, 50), 2),
        "p99_ms": round(percentile(gaps, 99), 2),
        "cpu_percent": round(cpu / wall * 100.0, 1),
        "rss_kb_per_session": round((rss1 - rss0) / sessions, 1),
    }


def _parse_corpus() -> list[bytes]:
    audio = base64.b64encode(os.urandom(960)).decode("ascii")
    enc = msgspec.json.encode
    delta = enc(
        {
            "type": "response.output_audio.delta",
            "event_id": "evt_1",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": audio,
        }
    )
    transcript = enc(
        {
            "type": "response.output_audio_transcript.delta",
            "event_id": "evt_2",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "hello ",
        }
    )
    created = enc({"type": "response.created", "event_id": "e", "response": {"id": "resp_1"}})
    done = enc({"type": "response.done", "event_id": "e", "response": {"id": "resp_1"}})
    return [delta] * 16 + [transcript] * 3 + [created, done]


async def _bench_parse(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.protocol import ServerEventParser, TranscriptAccumulator, Version

    corpus = _parse_corpus()
    parser = ServerEventParser(Version.V2)
    transcript = TranscriptAccumulator()
    count = args.events
    frames = (corpus * (count // len(corpus) + 1))[:count]
    for frame in frames[:1000]:  # warm-up
        parser.parse(frame)
    dispatched = 0
    t0 = time.perf_counter()
    for frame in frames:
        event = parser.parse(frame)
        if event is not None:
            transcript.observe(event)
            dispatched += 1
    elapsed = time.perf_counter() - t0
    return {"events_per_s": round(dispatched / elapsed)}


async def _bench_handoff(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.cli._bench_handoff import bench_handoff

    return await bench_handoff(rounds=args.rounds, work_ms=args.work_ms)


async def _bench_preconnect(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.agent import bench_preconnect

    return await bench_preconnect(args.turns, args.handshake_latency_ms)


async def _bench_startup(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.conversation import bench_startup

    return await bench_startup(args.starts, args.call_latency_ms, args.sideband_latency_ms)


async def _bench_app_server(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.app_server import bench_app_server

    return await bench_app_server(args.threads, args.seconds)


async def _bench_speech(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.cli._bench_speech import bench_speech

    return await bench_speech(quick=args.quick, rounds=args.rounds)


def _registry() -> dict[str, BenchFn]:
    return {
        "app-server": _bench_app_server,
        "startup": _bench_startup,
        "relay": _bench_relay,
        "parse": _bench_parse,
        "handoff": _bench_handoff,
        "preconnect": _bench_preconnect,
        "speech": _bench_speech,
    }


async def run_bench(args: argparse.Namespace) -> int:
    fn = _registry().get(args.bench)
    if fn is None:
        print(f"realtalk: error: benchmark {args.bench!r} is not available yet", file=sys.stderr)
        return 1
    result = await fn(args)
    print(msgspec.json.encode(result).decode())
    return 0

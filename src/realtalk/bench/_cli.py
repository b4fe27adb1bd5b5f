"""``realtalk bench``: the subcommands' options, and running one benchmark.

Each benchmark's module is imported only when it runs, so ``realtalk bench --help``
loads no network stack.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec

from realtalk._argtypes import count_arg, non_negative_arg, seconds_arg

__all__ = ["add_bench_arguments", "run_bench"]

BenchFn = Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", required=True)
    relay = sub.add_parser("relay", help="S sessions streaming audio both ways")
    relay.add_argument("--sessions", type=count_arg, default=100)
    relay.add_argument("--seconds", type=seconds_arg, default=5.0)
    relay.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the sessions' objects to the garbage collector's full collections",
    )
    parse = sub.add_parser("parse", help="server events parsed and dispatched per second")
    parse.add_argument("--events", type=count_arg, default=300_000)
    parse.add_argument(
        "--audio-bytes",
        type=count_arg,
        default=960,
        help="PCM bytes per audio delta (default 960 = 20 ms; the real API sends ~4096)",
    )
    for name, helptext in (
        ("handoff", "agent final message to response.create, audio gaps while a task runs"),
        ("startup", "WebRTC start: SDP answer before the sideband, vs a sequential baseline"),
        ("preconnect", "Responses turn start to first request, with and without preconnect"),
        ("app-server", "realtime threads over one app-server WebSocket listener"),
        ("speech", "offline speech: recognition accuracy on espeak-ng, TTS first audio"),
        (
            "peer",
            "realtalk vs openai-agents' RealtimeSession on one emulator (needs openai-agents)",
        ),
        ("reconnect", "a lost realtime session: the silence until the new one, history restored"),
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
        if name == "peer":
            p.add_argument("--rounds", type=count_arg, default=20)
            p.add_argument(
                "--words", type=count_arg, default=2000, help="length of the long answer"
            )
        if name == "reconnect":
            p.add_argument("--rounds", type=count_arg, default=5)
            p.add_argument("--turns", type=non_negative_arg, default=4)
            p.add_argument("--max-session-s", type=seconds_arg, default=2.0)
        if name == "app-server":
            p.add_argument("--threads", type=count_arg, default=100)
            p.add_argument("--seconds", type=seconds_arg, default=5.0)
    for p in (relay, parse):
        p.add_argument("--json", action="store_true", help="print JSON (the only format)")


async def _relay(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._relay import bench_relay

    return await bench_relay(args.sessions, args.seconds, gc_freeze=not args.no_gc_freeze)


async def _parse(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._parse import bench_parse

    return bench_parse(args.events, args.audio_bytes)


async def _handoff(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._handoff import bench_handoff

    return await bench_handoff(rounds=args.rounds, work_ms=args.work_ms)


async def _preconnect(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._preconnect import bench_preconnect

    return await bench_preconnect(args.turns, args.handshake_latency_ms)


async def _startup(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._startup import bench_startup

    return await bench_startup(args.starts, args.call_latency_ms, args.sideband_latency_ms)


async def _app_server(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._app_server import bench_app_server

    return await bench_app_server(args.threads, args.seconds)


async def _speech(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._speech import bench_speech

    return await bench_speech(quick=args.quick, rounds=args.rounds)


async def _peer(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._peer import bench_peer

    return await bench_peer(rounds=args.rounds, words=args.words)


async def _reconnect(args: argparse.Namespace) -> dict[str, Any]:
    from realtalk.bench._reconnect import bench_reconnect

    return await bench_reconnect(args.rounds, args.turns, args.max_session_s)


_BENCHMARKS: dict[str, BenchFn] = {
    "peer": _peer,
    "reconnect": _reconnect,
    "app-server": _app_server,
    "startup": _startup,
    "relay": _relay,
    "parse": _parse,
    "handoff": _handoff,
    "preconnect": _preconnect,
    "speech": _speech,
}


async def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark ``args.bench`` names and print its one JSON object."""
    fn = _BENCHMARKS.get(args.bench)
    if fn is None:
        print(f"realtalk: error: benchmark {args.bench!r} is not available yet", file=sys.stderr)
        return 1
    result = await fn(args)
    print(msgspec.json.encode(result).decode())
    return 0

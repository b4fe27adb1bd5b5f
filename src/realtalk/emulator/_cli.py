"""``realtalk emulator``: argument parsing and the serve-until-signal loop."""

from __future__ import annotations

import argparse
import asyncio
import sys

from realtalk._argtypes import non_negative_arg, seconds_arg
from realtalk._signals import wait_for_stop_signal
from realtalk.emulator._options import EmulatorOptions
from realtalk.emulator._responses import ResponsesOptions
from realtalk.emulator._server import Emulator

__all__ = ["add_arguments", "run_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=non_negative_arg, default=0, help="listen port; 0 picks a free one (default)"
    )
    parser.add_argument(
        "--handshake-latency-ms",
        type=non_negative_arg,
        default=0,
        metavar="MS",
        help="delay every WebSocket accept by MS milliseconds",
    )
    for knob, what in (
        ("close-after-events", "close each realtime socket"),
        ("error-after-events", "send an error event"),
        ("binary-after-events", "send a binary frame"),
        ("malformed-after-events", "send a malformed JSON text frame"),
    ):
        parser.add_argument(
            f"--{knob}",
            type=non_negative_arg,
            default=None,
            metavar="N",
            help=f"fault: {what} after N server events",
        )
    parser.add_argument(
        "--max-session-s",
        type=seconds_arg,
        default=None,
        metavar="N",
        help="fault: end each realtime session after N seconds as the real API does at its "
        "cap (session_expired error, then close 1001)",
    )
    parser.add_argument(
        "--echo-audio",
        action="store_true",
        help="benchmark mode: answer each audio append with one equal-size output delta",
    )
    parser.add_argument(
        "--fast-audio",
        action="store_true",
        help="send output audio as fast as possible instead of in real time",
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve https/wss with a throwaway CA (path printed)"
    )
    parser.add_argument(
        "--speech-transcript",
        action="append",
        default=[],
        metavar="TEXT",
        help="transcript of the next audio turn (repeat to cycle through several)",
    )
    parser.add_argument(
        "--auto-respond-text",
        action="store_true",
        help="answer user text items without waiting for response.create",
    )
    parser.add_argument(
        "--call-latency-ms",
        type=non_negative_arg,
        default=0,
        metavar="MS",
        help="total time to answer POST /v1/realtime/calls (SDP work included)",
    )
    parser.add_argument(
        "--sideband-latency-ms",
        type=non_negative_arg,
        default=0,
        metavar="MS",
        help="total time until a sideband (?call_id=) handshake completes",
    )
    parser.add_argument("--call-500", action="store_true", help="fault: calls answer HTTP 500")
    parser.add_argument(
        "--call-missing-location",
        action="store_true",
        help="fault: calls answer 201 without a Location header",
    )
    parser.add_argument(
        "--call-location-without-id",
        action="store_true",
        help="fault: calls answer 201 with a Location holding no rtc_ id",
    )
    parser.add_argument(
        "--sideband-refuse",
        type=non_negative_arg,
        default=0,
        metavar="N",
        help="fault: refuse the first N sideband handshakes with HTTP 503",
    )
    parser.add_argument(
        "--sideband-never",
        action="store_true",
        help="fault: refuse every sideband handshake with HTTP 503",
    )
    _add_responses_arguments(parser)


def _add_responses_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Responses API (/v1/responses) knobs")
    group.add_argument(
        "--responses-handshake-latency-ms",
        type=int,
        default=None,
        help="delay the /v1/responses WebSocket accept (default: --handshake-latency-ms)",
    )
    group.add_argument(
        "--responses-426", action="store_true", help="fault: refuse upgrades with HTTP 426"
    )
    group.add_argument(
        "--responses-close-before-completed",
        action="store_true",
        help="fault: close before response.completed",
    )
    group.add_argument(
        "--responses-fail-handshakes",
        type=int,
        default=0,
        metavar="N",
        help="fault: fail the first N handshakes with HTTP 500",
    )


def options_from_args(args: argparse.Namespace) -> EmulatorOptions:
    return EmulatorOptions(
        host=args.host,
        port=args.port,
        handshake_latency_ms=args.handshake_latency_ms,
        close_after_events=args.close_after_events,
        error_after_events=args.error_after_events,
        binary_after_events=args.binary_after_events,
        malformed_after_events=args.malformed_after_events,
        max_session_s=args.max_session_s,
        echo_audio=args.echo_audio,
        audio_realtime=not args.fast_audio,
        tls=args.tls,
        speech_transcripts=tuple(args.speech_transcript),
        auto_respond_to_text=args.auto_respond_text,
        call_latency_ms=args.call_latency_ms,
        sideband_latency_ms=args.sideband_latency_ms,
        call_status_500=args.call_500,
        call_missing_location=args.call_missing_location,
        call_location_without_id=args.call_location_without_id,
        sideband_refuse_times=args.sideband_refuse,
        sideband_never=args.sideband_never,
        responses=ResponsesOptions(
            handshake_latency_ms=(
                args.handshake_latency_ms
                if args.responses_handshake_latency_ms is None
                else args.responses_handshake_latency_ms
            ),
            refuse_upgrade_426=args.responses_426,
            close_before_completed=args.responses_close_before_completed,
            fail_handshakes=args.responses_fail_handshakes,
        ),
        record=False,  # nobody reads the records of a CLI emulator; keep memory flat
    )


async def run_from_args(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; prints ``READY <base-url>`` (and ``CA <path>``)."""
    options = options_from_args(args)
    async with Emulator(options) as emulator:
        print(f"READY {emulator.base_url}", flush=True)
        if emulator.ca_path is not None:
            print(f"CA {emulator.ca_path}", flush=True)
        await wait_for_stop_signal(asyncio.Event())
    print("emulator stopped", file=sys.stderr, flush=True)
    return 0

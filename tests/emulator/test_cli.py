"""``realtalk emulator`` glue: a real subprocess, READY/CA lines, clean shutdown on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys

import pytest

from realtalk.emulator import add_emulator_arguments
from realtalk.emulator._cli import options_from_args

from ._client import open_client

_RUNNER = (
    "import argparse, asyncio, sys\n"
    "from realtalk.emulator import add_emulator_arguments, run_emulator_from_args\n"
    "parser = argparse.ArgumentParser()\n"
    "add_emulator_arguments(parser)\n"
    "sys.exit(asyncio.run(run_emulator_from_args(parser.parse_args(sys.argv[1:]))))\n"
)


def test_arguments_parse() -> None:
    parser = argparse.ArgumentParser()
    add_emulator_arguments(parser)
    args = parser.parse_args(
        ["--port", "0", "--close-after-events", "3", "--echo-audio", "--fast-audio", "--tls"]
    )
    assert (args.port, args.close_after_events, args.echo_audio, args.fast_audio, args.tls) == (
        0,
        3,
        True,
        True,
        True,
    )
    assert args.error_after_events is None
    assert args.max_session_s is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--handshake-latency-ms", "-1"])
    capped = options_from_args(parser.parse_args(["--max-session-s", "5"]))
    assert capped.max_session_s == 5.0
    for bad in ("0", "-5", "forever"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--max-session-s", bad])


@pytest.mark.parametrize("scheme", ["plain", "tls"])
async def test_cli_serves_until_sigterm(scheme: str) -> None:
    tls = scheme == "tls"
    argv = ["--fast-audio", "--tls"] if tls else ["--fast-audio"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _RUNNER,
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            ready = (await proc.stdout.readline()).decode().split()
            ca = (await proc.stdout.readline()).decode().split() if tls else []
        assert ready[0] == "READY"
        base = ready[1]
        assert base.startswith("https://" if tls else "http://") and base.endswith("/v1")
        ws_url = base.replace("http", "ws", 1) + "/realtime"
        context = ssl.create_default_context(cafile=ca[1]) if tls else None
        if tls:
            assert ca[0] == "CA"
        async with open_client(ws_url, ssl=context) as client:
            assert (await client.recv())["type"] == "session.created"
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await proc.wait()
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

"""SIGTERM/SIGHUP cancel a run so its cleanup runs; a second signal stops waiting for it."""

from __future__ import annotations

import asyncio
import signal
import sys

CHILD = """
import asyncio, signal, sys
from realtalk._signals import cancel_on_signals

async def main() -> int:
    with cancel_on_signals(signal.SIGTERM) as termination:
        try:
            print("ready", flush=True)
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            print("cleanup", int(termination.signal or 0), flush=True)
            await asyncio.Event().wait()  # a cleanup that never finishes
    return 0

sys.exit(asyncio.run(main()))
"""


async def test_a_second_signal_ends_a_stuck_cleanup() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            assert await proc.stdout.readline() == b"ready\n"
            proc.send_signal(signal.SIGTERM)
            assert await proc.stdout.readline() == f"cleanup {int(signal.SIGTERM)}\n".encode()
            assert proc.returncode is None  # the first signal only cancelled the run
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == -signal.SIGTERM
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

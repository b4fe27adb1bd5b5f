"""Shared benchmark plumbing: helper processes on loopback and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence

__all__ = ["percentile", "proc_cpu_s", "realtalk_argv", "spawn_ready"]

_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100.0 * len(ordered)) - 1))
    return ordered[rank]


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def realtalk_argv(*args: str) -> list[str]:
    """``python -m realtalk ARGS`` with this interpreter."""
    return [sys.executable, "-m", "realtalk", *args]


@contextlib.asynccontextmanager
async def spawn_ready(
    argv: Sequence[str], env: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[str, int]]:
    """Run ``argv`` until it prints ``READY <url>``; yields ``(url, pid)``.

    The process is terminated (then killed after a grace period) on exit, so a
    benchmark never leaves a helper behind.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(_READY_TIMEOUT_S):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"{' '.join(argv[2:4])} exited before printing READY")
                if line.startswith("READY "):
                    break
        yield line.split()[1], proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()

"""Wait for SIGINT/SIGTERM: the shared shutdown trigger of long-running commands."""

from __future__ import annotations

import asyncio
import signal

__all__ = ["wait_for_stop_signal"]


async def wait_for_stop_signal(stop: asyncio.Event) -> None:
    """Return once ``stop`` is set, or SIGINT/SIGTERM arrives (which sets it).

    Where the loop cannot install signal handlers (Windows, a non-main thread), only
    ``stop`` ends the wait and Ctrl-C surfaces as ``KeyboardInterrupt`` as usual.
    """
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # platform without loop signal support
            continue
        installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

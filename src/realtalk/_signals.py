"""Wait for SIGINT/SIGTERM: the shared shutdown trigger of long-running commands."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

__all__ = ["Termination", "cancel_on_signals", "wait_for_stop_signal"]


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


class Termination:
    """Which signal cancelled the task (None: none did)."""

    signal: signal.Signals | None = None


@contextlib.contextmanager
def cancel_on_signals(*signals: signal.Signals) -> Iterator[Termination]:
    """Turn ``signals`` into a cancellation of the current task, so its cleanup runs.

    Without this, SIGTERM or SIGHUP (a closed terminal) ends the process at once:
    no close frame, no flushed files. Check ``Termination.signal`` after catching the
    ``CancelledError``. A second signal during the cleanup ends the process at once.
    Where the loop cannot install handlers, nothing changes.
    """
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    state = Termination()
    installed: list[signal.Signals] = []

    def terminate(sig: signal.Signals) -> None:
        if state.signal is None and task is not None:
            state.signal = sig
            task.cancel()
            return
        # A second signal while the cleanup runs: stop waiting for it, the default way.
        for installed_sig in installed:
            loop.remove_signal_handler(installed_sig)
        signal.raise_signal(sig)

    for sig in signals:
        try:
            loop.add_signal_handler(sig, terminate, sig)
        except (NotImplementedError, RuntimeError):
            continue
        installed.append(sig)
    try:
        yield state
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

"""Wait for SIGINT/SIGTERM: the shared shutdown trigger of long-running commands."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable, Iterator

__all__ = ["Termination", "cancel_on_signals", "wait_for_stop_signal"]


async def wait_for_stop_signal(stop: asyncio.Event) -> None:
    """Return once ``stop`` is set, or SIGINT/SIGTERM arrives (which sets it).

    Where the loop cannot install signal handlers (Windows, a non-main thread), only
    ``stop`` ends the wait and Ctrl-C surfaces as ``KeyboardInterrupt`` as usual.
    """
    loop = asyncio.get_running_loop()
    installed = _install(loop, (signal.SIGINT, signal.SIGTERM), lambda _sig: stop.set())
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _install(
    loop: asyncio.AbstractEventLoop,
    signals: Iterable[signal.Signals],
    handler: Callable[[signal.Signals], None],
) -> list[signal.Signals]:
    """Install ``handler(sig)`` for each signal the loop supports; returns those."""
    installed: list[signal.Signals] = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, handler, sig)
        except (NotImplementedError, RuntimeError):  # no loop signal support here
            continue
        installed.append(sig)
    return installed


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

    installed.extend(_install(loop, signals, terminate))
    try:
        yield state
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

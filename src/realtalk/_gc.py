"""Keep long-lived session objects out of the garbage collector's full collections.

A server holding hundreds of live conversations has millions of tracked objects that
live as long as their conversation. CPython's full (generation 2) collection walks all
of them with the event loop stopped: 40-85 ms at 250-500 sessions on a 2-core VM, and a
handful of those pauses is the p99 of every stream. ``gc.freeze()`` moves every object
alive now into a permanent generation that collections skip (O(1): it merges lists).

:class:`LongLived` applies it as sessions come and go:

* :meth:`LongLived.settled` (a conversation is up): a freeze is scheduled
  ``delay_s`` later, so a burst of starts costs one; young cyclic garbage is
  collected first (generations 0 and 1 only: cheap), so little garbage is frozen.
* :meth:`LongLived.released` (a conversation ended): objects freed by reference
  counting go at once, frozen or not; what a frozen *cycle* held stays until the
  next reclaim. After ``reclaim_after`` releases, one reclaim unfreezes, runs a
  full collection (one pause, amortised over that many ended conversations) and
  freezes again, so memory stays bounded on a server that runs for weeks.

No task is created; the timer handle is cancelled by :meth:`close`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Final

__all__ = ["LongLived"]

logger = logging.getLogger(__name__)

_DELAY_S: Final = 0.25
_RECLAIM_AFTER: Final = 64


class LongLived:
    """Freeze after sessions settle; reclaim after enough of them ended (see module)."""

    def __init__(self, *, delay_s: float = _DELAY_S, reclaim_after: int = _RECLAIM_AFTER) -> None:
        if delay_s < 0 or reclaim_after < 1:
            raise ValueError("delay_s must be >= 0 and reclaim_after >= 1")
        self._delay_s = delay_s
        self._reclaim_after = reclaim_after
        self._released = 0
        self._handle: asyncio.TimerHandle | None = None
        self._reclaim = False
        self._closed = False
        self.freezes = 0
        """Freezes done (each after a burst of settled sessions, or a reclaim)."""
        self.reclaims = 0
        """Full collections done after ``reclaim_after`` sessions ended."""
        self.ran = asyncio.Event()
        """Set after each freeze or reclaim (an observer may clear it)."""

    def settled(self) -> None:
        """A long-lived session is set up: freeze what is alive, soon."""
        self._schedule()

    def released(self) -> None:
        """A session ended: reclaim (unfreeze, full collection, freeze) every so often."""
        self._released += 1
        if self._released >= self._reclaim_after:
            self._released = 0
            self._reclaim = True
            self._schedule()

    def _schedule(self) -> None:
        if self._closed or self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(self._delay_s, self._run)

    def _run(self) -> None:
        self._handle = None
        started = time.perf_counter()
        if self._reclaim:
            self._reclaim = False
            gc.unfreeze()
            gc.collect()
            self.reclaims += 1
        else:
            gc.collect(1)  # young cycles are garbage now: do not freeze them
        gc.freeze()
        self.freezes += 1
        self.ran.set()
        logger.debug(
            "gc: long-lived objects frozen",
            extra={
                "frozen": gc.get_freeze_count(),
                "reclaim": self.reclaims,
                "elapsed_ms": round((time.perf_counter() - started) * 1000.0, 2),
            },
        )

    def close(self) -> None:
        """Cancel a pending freeze and unfreeze (the process may go on). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.freezes:
            gc.unfreeze()

"""Logging helpers: step timers with ``elapsed_ms`` / ``total_elapsed_ms`` fields."""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["StepTimer"]


class StepTimer:
    """Logs startup steps with how long the step took and the time since start.

    Each ``step`` call logs ``elapsed_ms`` (since the previous step) and
    ``total_elapsed_ms`` (since the timer was created) as structured fields, and
    mirrors them in the message so plain-text logs show them too.
    """

    def __init__(self, logger: logging.Logger, name: str) -> None:
        self._logger = logger
        self._name = name
        self._start = time.perf_counter()
        self._last = self._start

    @property
    def total_ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0

    def step(self, step: str, **fields: Any) -> None:
        now = time.perf_counter()
        elapsed = round((now - self._last) * 1000.0, 2)
        total = round((now - self._start) * 1000.0, 2)
        self._last = now
        extra = {"step": step, "elapsed_ms": elapsed, "total_elapsed_ms": total, **fields}
        self._logger.info(
            "%s: %s elapsed_ms=%.2f total_elapsed_ms=%.2f",
            self._name,
            step,
            elapsed,
            total,
            extra=extra,
        )

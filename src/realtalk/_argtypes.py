"""argparse types that refuse values which would measure nothing, wait forever or hang."""

from __future__ import annotations

import argparse

__all__ = ["count_arg", "non_negative_arg", "seconds_arg"]


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def count_arg(text: str) -> int:
    """A count of at least 1 (sessions, turns, ...): 0 would measure nothing, or hang."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_arg(text: str) -> int:
    """A whole number >= 0 (milliseconds, a port where 0 picks one, ...)."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seconds_arg(text: str) -> float:
    """A duration in seconds, more than 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600, got {text}")
    return value

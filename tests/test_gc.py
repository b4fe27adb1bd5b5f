"""LongLived: live sessions' objects frozen out of full collections, reclaimed in time."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from realtalk._gc import LongLived

TIMEOUT = 5.0


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    """A two-object reference cycle nobody else holds; only a collection frees it."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


async def _ran(policy: LongLived) -> None:
    async with asyncio.timeout(TIMEOUT):
        await policy.ran.wait()
    policy.ran.clear()


async def test_a_burst_of_settled_sessions_costs_one_freeze() -> None:
    policy = LongLived(delay_s=0.01)
    for _ in range(5):
        policy.settled()
    await _ran(policy)
    assert policy.freezes == 1
    assert gc.get_freeze_count() > 0
    policy.close()
    assert gc.get_freeze_count() == 0


async def test_young_garbage_is_collected_before_the_freeze() -> None:
    gc.collect()
    policy = LongLived(delay_s=0)
    dead = _cycle()
    assert dead() is not None  # garbage, but not collected yet
    policy.settled()
    await _ran(policy)
    assert dead() is None  # not frozen: the young generations were collected first
    policy.close()


async def test_frozen_cycles_are_reclaimed_after_enough_sessions_ended() -> None:
    policy = LongLived(delay_s=0, reclaim_after=3)
    kept = _Node()
    kept.other = kept
    held = weakref.ref(kept)
    policy.settled()
    await _ran(policy)
    del kept  # the session ends: its cycle is frozen, so no collection sees it
    gc.collect()
    assert held() is not None
    policy.released()
    policy.released()
    assert not policy.ran.is_set() and policy.reclaims == 0
    policy.released()
    await _ran(policy)
    assert policy.reclaims == 1 and policy.freezes == 2
    assert held() is None
    assert gc.get_freeze_count() > 0  # frozen again after the full collection
    policy.close()
    policy.close()  # idempotent


async def test_close_cancels_a_pending_freeze() -> None:
    policy = LongLived(delay_s=60)
    policy.settled()
    policy.close()
    policy.settled()  # after close: nothing is scheduled
    assert policy.freezes == 0 and gc.get_freeze_count() == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="reclaim_after"):
        LongLived(reclaim_after=0)
    with pytest.raises(ValueError, match="delay_s"):
        LongLived(delay_s=-1)

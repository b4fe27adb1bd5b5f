"""The preconnect benchmark helper (small and fast here; the CLI runs the real one)."""

from __future__ import annotations

import pytest

from realtalk._errors import ConfigError
from realtalk.agent._bench import bench_preconnect


async def test_bench_preconnect_reports_both_modes() -> None:
    result = await bench_preconnect(3, 60)
    assert set(result) == {
        "handshake_latency_ms",
        "turns",
        "with_preconnect_ms",
        "without_preconnect_ms",
        "ratio",
    }
    assert (result["handshake_latency_ms"], result["turns"]) == (60, 3)
    # Without preconnect the turn waits for the emulator's delayed 101 answer.
    assert result["without_preconnect_ms"] >= 60
    assert result["with_preconnect_ms"] < 60
    assert result["ratio"] == pytest.approx(
        result["with_preconnect_ms"] / result["without_preconnect_ms"], abs=1e-3
    )


@pytest.mark.parametrize(("turns", "latency"), [(0, 10), (1, -1)])
async def test_bench_rejects_bad_arguments(turns: int, latency: int) -> None:
    with pytest.raises(ConfigError):
        await bench_preconnect(turns, latency)

"""The WebRTC startup benchmark helper, on a small run (separate emulator process)."""

from __future__ import annotations

from realtalk.conversation._bench import bench_startup


async def test_bench_startup_reports_both_designs() -> None:
    """Small run of the startup benchmark (separate emulator process)."""
    report = await bench_startup(starts=2, call_latency_ms=100, sideband_latency_ms=300)
    assert set(report) == {
        "call_latency_ms",
        "sideband_latency_ms",
        "starts",
        "ours",
        "baseline",
        "sdp_ratio",
    }
    assert (report["call_latency_ms"], report["sideband_latency_ms"], report["starts"]) == (
        100,
        300,
        2,
    )
    ours, baseline = report["ours"], report["baseline"]
    assert 100 <= ours["sdp_ms"] < 300  # answered before the 300 ms sideband handshake
    assert baseline["sdp_ms"] >= 400  # call + sideband
    assert ours["sideband_ready_ms"] >= 400 and ours["first_text_ms"] >= ours["sideband_ready_ms"]
    assert report["sdp_ratio"] == round(ours["sdp_ms"] / baseline["sdp_ms"], 3)

"""``realtalk bench …`` as a user runs it: one JSON object per benchmark, same keys.

Small runs (real subprocesses and loopback sockets, as the real ones): they prove
each benchmark runs and reports what it promises, not how fast this machine is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest


def _bench(*args: str, timeout: float = 120.0) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTALK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "realtalk", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # one JSON object, nothing else
    report = json.loads(lines[0])
    assert isinstance(report, dict)
    return report


def test_relay() -> None:
    report = _bench("relay", "--sessions", "2", "--seconds", "0.5")
    assert set(report) == {
        "sessions",
        "seconds",
        "frames_per_s",
        "p50_ms",
        "p99_ms",
        "loop",
        "frames_due",
        "frames_sent",
        "frames_delivered",
        "cpu_percent",
        "cpu_kernel_percent",
        "client_cpu_us_per_message",
        "emulator_cpu_percent",
        "emulator_cpu_us_per_message",
        "rss_kb_per_session",
        "gc_freeze",
        "gc_full_collections",
        "gc_max_pause_ms",
    }
    assert report["sessions"] == 2
    assert report["loop"] in {"asyncio", "uvloop"}
    assert report["frames_per_s"] > 0  # the echoes came back
    assert 0 < report["frames_delivered"] <= report["frames_sent"]


def test_parse() -> None:
    report = _bench("parse", "--events", "5000", "--audio-bytes", "4096")
    assert set(report) == {
        "events",
        "audio_bytes",
        "audio_delta_frame_bytes",
        "events_per_s",
        "str_events_per_s",
        "bytes_vs_str_ratio",
    }
    assert (report["events"], report["audio_bytes"]) == (5000, 4096)
    # 4096 PCM bytes are 5464 base64 characters, inside one JSON event.
    assert 5464 < report["audio_delta_frame_bytes"] < 5464 + 200
    assert report["events_per_s"] > 0 and report["str_events_per_s"] > 0


def test_handoff() -> None:
    report = _bench("handoff", "--rounds", "1", "--work-ms", "200")
    assert set(report) == {
        "final_to_create_ms",
        "max_audio_gap_ms",
        "rounds",
        "work_ms",
        "p99_audio_gap_ms",
    }
    assert (report["rounds"], report["work_ms"]) == (1, 200)
    assert report["final_to_create_ms"] >= 0


def test_reconnect_restores_sessions_and_measures_the_silence() -> None:
    report = _bench("reconnect", "--rounds", "2", "--turns", "2", "--max-session-s", "1.5")
    assert set(report) == {
        "bench",
        "rounds",
        "history_turns",
        "max_session_s",
        "reconnect_ms",
        "reconnect_ms_max",
        "session_update_ms",
        "fresh_start_ms",
        "reconnect_ratio",
    }
    assert (report["rounds"], report["history_turns"], report["max_session_s"]) == (2, 2, 1.5)
    # The two figures start at different moments (the old session's end inside the
    # conversation; Reconnecting at the subscriber), so they are not ordered.
    assert report["session_update_ms"] > 0
    assert 0 < report["reconnect_ms"] <= report["reconnect_ms_max"]
    assert report["fresh_start_ms"] > 0


def test_startup_answers_before_the_sideband_and_the_baseline_after() -> None:
    report = _bench(
        "startup", "--starts", "2", "--call-latency-ms", "100", "--sideband-latency-ms", "300"
    )
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
    assert set(ours) == set(baseline) == {"sdp_ms", "sideband_ready_ms", "first_text_ms"}
    assert 100 <= ours["sdp_ms"] < 300  # answered before the 300 ms sideband handshake
    assert baseline["sdp_ms"] >= 400  # call + sideband
    assert ours["sideband_ready_ms"] >= 400 and ours["first_text_ms"] >= ours["sideband_ready_ms"]
    assert baseline["first_text_ms"] >= baseline["sideband_ready_ms"] >= 400
    assert report["sdp_ratio"] == round(ours["sdp_ms"] / baseline["sdp_ms"], 3)


def test_preconnect_saves_the_handshake() -> None:
    report = _bench("preconnect", "--turns", "3", "--handshake-latency-ms", "60")
    assert set(report) == {
        "handshake_latency_ms",
        "turns",
        "with_preconnect_ms",
        "without_preconnect_ms",
        "ratio",
    }
    assert (report["handshake_latency_ms"], report["turns"]) == (60, 3)
    # Without preconnect the turn waits for the emulator's delayed 101 answer.
    assert report["without_preconnect_ms"] >= 60
    assert report["with_preconnect_ms"] < 60
    assert report["ratio"] == pytest.approx(
        report["with_preconnect_ms"] / report["without_preconnect_ms"], abs=1e-3
    )


def test_app_server() -> None:
    report = _bench("app-server", "--threads", "2", "--seconds", "0.5")
    assert set(report) == {
        "threads",
        "p50_ms",
        "p99_ms",
        "cpu_percent",
        "emulator_cpu_percent",
        "driver_cpu_percent",
        "seconds",
        "frames_sent",
        "frames_echoed",
        "errors",
    }
    assert report["threads"] == 2
    assert report["errors"] == 0
    assert report["frames_echoed"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("preconnect", "--turns", "0"), "--turns: must be at least 1, got 0"),
        (("preconnect", "--handshake-latency-ms", "-1"), "--handshake-latency-ms"),
    ],
)
def test_arguments_that_would_measure_nothing_are_refused(
    argv: tuple[str, ...], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtalk", "bench", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_peer() -> None:
    report = _bench("peer", "--rounds", "1", "--words", "20")
    assert set(report) == {
        "loop",
        "rounds",
        "words",
        "realtalk",
        "openai_agents",
        "deltas_per_s_ratio",
        "first_delta_ratio",
        "cpu_per_delta_ratio",
    }
    for side in (report["realtalk"], report["openai_agents"]):
        assert side["audio_deltas"] > 0 and side["transcript_deltas"] > 0
        assert side["deltas_per_s"] >= side["deltas_per_s_median"] > 0
        assert side["first_delta_ms_median"] > 0
    assert report["deltas_per_s_ratio"] > 0 and report["first_delta_ratio"] > 0
    assert report["cpu_per_delta_ratio"] > 0


def test_peer_without_openai_agents_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['agents'] = None  # as if openai-agents were not installed\n"
        "from realtalk.cli import main\n"
        "sys.exit(main(['bench', 'peer']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "pip install openai-agents" in result.stderr

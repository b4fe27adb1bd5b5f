"""``talk``/``demo`` flags for long conversations, and what a reconnect looks like."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from realtalk import ConfigError
from realtalk.app_server import NotificationMethod, ThreadRealtimeReconnectedNotification
from realtalk.cli._main import build_parser
from realtalk.cli._remote_events import conversation_event
from realtalk.cli._render import Renderer
from realtalk.cli._settings import resolve_cli_settings
from realtalk.conversation import Reconnected, Reconnecting, Settings


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> Settings:
    for name in [n for n in os.environ if n.startswith(("OPENAI_", "REALTALK_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    args = build_parser("talk").parse_args(["talk", *flags])
    settings, _offline = resolve_cli_settings(args)
    return settings


def test_the_flags_set_the_rotation_and_the_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(
        tmp_path, monkeypatch, "--rotate-after-s", "600", "--reconnect-retries", "0"
    )
    assert settings.rotate_after_s == 600.0
    assert settings.reconnect_max_retries == 0
    defaults = _settings(tmp_path, monkeypatch)
    assert (defaults.rotate_after_s, defaults.reconnect_max_retries) == (
        3300.0,
        6,
    )
    with pytest.raises(ConfigError, match="--reconnect-retries 21: expected 0 to 20"):
        _settings(tmp_path, monkeypatch, "--reconnect-retries", "21")
    for bad in (("--rotate-after-s", "0"), ("--reconnect-retries", "-1")):
        with pytest.raises(SystemExit):
            build_parser("talk").parse_args(["talk", *bad])


def _shown(*events: object, verbose: bool = False) -> str:
    out = io.StringIO()
    renderer = Renderer(Console(file=out, width=200), verbose=verbose)
    for event in events:
        renderer.show(event)  # type: ignore[arg-type]
    return out.getvalue()


def test_a_reconnect_is_one_line_and_the_reconnecting_status_only_in_verbose() -> None:
    events = (
        Reconnecting("session_expired", "Your session hit the maximum duration of 60 minutes."),
        Reconnected("session_expired", 1, 12, 3, 5.4),
    )
    assert _shown(*events) == (
        "reconnected, history restored (session time limit; 12 messages, 3 older condensed; 5 ms)\n"
    )
    assert "reconnecting" in _shown(*events, verbose=True)
    assert "(connection lost; 2 messages; 40 ms)" in _shown(
        Reconnected("read_error", 2, 2, 0, 40.2)
    )


def test_through_an_app_server_the_notification_is_the_same_event() -> None:
    params = ThreadRealtimeReconnectedNotification(
        thread_id="thr_1",
        cause="rotation",
        attempts=1,
        restored_items=4,
        folded_items=0,
        elapsed_ms=3.0,
    )
    event = conversation_event((NotificationMethod("thread/realtime/reconnected"), params))  # type: ignore[arg-type]
    assert event == Reconnected("rotation", 1, 4, 0, 3.0)
    assert "session renewed" in _shown(event)

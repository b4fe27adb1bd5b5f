"""The console shows the agent's waiting question and counts reconnects (textual's pilot).

Real conversations on 127.0.0.1 (the emulator; the built-in agent in its sandbox): the
agent panel shows "waiting for your answer: May I run …?" until the typed answer
resolves it, and the status line's reconnect count follows the conversation's
Reconnecting/Reconnected events when sessions expire.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from realtalk.cli._console import TalkConsole
from realtalk.cli._console_run import LocalConversation
from realtalk.cli._console_view import StatusLine
from realtalk.cli._talk_audio import AudioOptions
from realtalk.conversation import Settings
from tests.cli._fake_device import FakeDevice
from tests.cli.test_console import SIZE, connected, panel, say, transcript, until

ASK = "agent, run `curl -sS http://127.0.0.1:9/`."


def _console(settings: Settings, *, offline: bool) -> TalkConsole:
    args = argparse.Namespace(events_jsonl=None, audio_out=None)
    conversation = LocalConversation(
        args,
        settings,
        offline=offline,
        audio=AudioOptions(mic=False),
        fast_emulator_audio=True,
        device_factory=FakeDevice().factory,
    )
    return TalkConsole(conversation, StatusLine(transport="websocket"))


async def test_the_panel_shows_the_question_until_it_is_answered(tmp_path: Path) -> None:
    app = _console(Settings(transport="websocket", workspace=str(tmp_path)), offline=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await say(pilot, ASK)
        await until(pilot, "the question", lambda: "waiting for your answer" in panel(app))
        assert "May I run `curl -sS http://127.0.0.1:9/`? It needs the network." in panel(app)
        await until(
            pilot, "the question said", lambda: any("May I run" in t for t in transcript(app))
        )
        await say(pilot, "no")
        await until(pilot, "the answer", lambda: "waiting for your answer" not in panel(app))
        assert "declined: May I run" in panel(app) or "agent finished" in panel(app)
        await until(pilot, "the task's end", lambda: not app.panel.busy)
        assert "waiting for your answer" not in panel(app)
        await pilot.press("ctrl+c")  # quit: the conversation closes before the app ends
    assert app.failure is None


async def test_the_status_line_counts_reconnects(tmp_path: Path, emulator_factory: Any) -> None:
    emulator = await emulator_factory(max_session_s=1.0)
    settings = Settings(
        transport="websocket",
        workspace=str(tmp_path),
        base_url=emulator.base_url,
        api_key="sk-test-not-a-real-key",
    )
    app = _console(settings, offline=False)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        assert "reconnects" not in app.status.render().plain
        await until(pilot, "a reconnect", lambda: app.status.reconnects >= 2)
        await until(pilot, "connected again", lambda: app.status.connection == "connected")
        line = app.status.render().plain
        assert f"reconnects {app.status.reconnects}" in line
        await pilot.press("ctrl+c")
    assert app.failure is None

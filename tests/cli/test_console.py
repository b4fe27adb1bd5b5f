"""The ``talk`` console, driven headless by textual's pilot against the offline emulator.

Real conversations (embedded emulator on 127.0.0.1, the built-in agent running real
commands in its sandbox); the pilot presses the keys a person would. Waits are bounded
polls of what the app shows (``until``), never sleeps.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from realtalk import ConfigError
from realtalk.cli._console import TalkConsole
from realtalk.cli._console_run import LocalConversation, wants_console
from realtalk.cli._console_view import StatusLine
from realtalk.cli._talk_audio import AudioOptions
from realtalk.conversation import Settings
from tests.cli._fake_device import FakeDevice, tone

WAIT_S = 30.0
SIZE = (110, 32)


def console(
    tmp_path: Path,
    *,
    fast: bool = True,
    events: Path | None = None,
    mic: FakeDevice | None = None,
    push_to_talk: bool = False,
) -> TalkConsole:
    args = argparse.Namespace(events_jsonl=str(events) if events else None, audio_out=None)
    settings = Settings(transport="websocket", workspace=str(tmp_path), push_to_talk=push_to_talk)
    audio = AudioOptions(mic=mic is not None)
    conversation = LocalConversation(
        args,
        settings,
        offline=True,
        audio=audio,
        fast_emulator_audio=fast,
        device_factory=(mic or FakeDevice()).factory,
    )
    status = StatusLine(transport="websocket", mic=audio.mic, push_to_talk=push_to_talk)
    return TalkConsole(conversation, status)


def transcript(app: TalkConsole) -> list[str]:
    return [str(w.content) for w in app.query("#transcript Static").results(Static)]


def panel(app: TalkConsole) -> str:
    return app.panel.render().plain


async def until(pilot: Pilot[None], what: str, check: Callable[[], bool]) -> None:
    """Let the app run until ``check()`` holds (bounded)."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not check():
                await pilot.pause(0.05)
    except TimeoutError:
        app = pilot.app
        assert isinstance(app, TalkConsole)
        raise AssertionError(f"{what}: not seen; transcript {transcript(app)}") from None


async def say(pilot: Pilot[None], text: str) -> None:
    field = pilot.app.query_one(Input)
    field.value = text
    await pilot.press("enter")
    assert field.value == ""  # the line is ready for the next words at once


async def connected(pilot: Pilot[None], app: TalkConsole) -> None:
    await until(pilot, "connected", lambda: app.status.connection == "connected")


async def test_a_delegation_shows_its_running_command_and_output_then_the_answer(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    app = console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await say(pilot, "agent, run `sh -c 'echo step one; cat gate'`")
        await until(pilot, "the output tail", lambda: "│ step one" in panel(app))
        shown = panel(app)
        assert re.search(r"agent working \d+\.\ds  task: agent, run `sh -c", shown), shown
        assert re.search(r"\$ sh -c 'echo step one; cat gate'  running \d+\.\ds", shown)
        # The input stays usable while the agent works: a line goes out and is answered.
        await say(pilot, "are you there?")
        await until(
            pilot, "an answer", lambda: "assistant › You said: are you there?" in transcript(app)
        )
        await asyncio.to_thread(gate.write_text, "opened\n")
        await until(pilot, "the agent's end", lambda: "agent finished" in panel(app))
        await until(
            pilot,
            "the spoken result",
            lambda: any(line.startswith("assistant › The agent says:") for line in transcript(app)),
        )
        lines = transcript(app)
        assert lines.count("you › agent, run `sh -c 'echo step one; cat gate'`") == 1
        assert "→ agent: agent, run `sh -c 'echo step one; cat gate'`" in lines
        assert len(lines) == len(set(lines)), lines
        assert not any("<realtime_delegation>" in line or "<input>" in line for line in lines)
        assert "last: $ sh -c 'echo step one; cat gate' (exit 0)" in panel(app)
        await pilot.press("ctrl+c")
    assert app.failure is None


async def test_ctrl_x_cancels_the_delegation_and_kills_its_command(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    app = console(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await say(pilot, "agent, run `cat gate`")
        await until(pilot, "the running command", lambda: "$ cat gate  running" in panel(app))
        await pilot.press("ctrl+x")
        await until(pilot, "the cancel", lambda: "agent stopped" in panel(app))
        assert "interrupted" in panel(app)
        await until(
            pilot,
            "the spoken cancel",
            lambda: any(
                "interrupted" in line and "assistant ›" in line for line in transcript(app)
            ),
        )
        # `cat` was killed: nobody reads the gate any more.
        with pytest.raises(OSError) as no_reader:
            os.close(os.open(gate, os.O_WRONLY | os.O_NONBLOCK))
        assert no_reader.value.errno == errno.ENXIO
        await pilot.press("ctrl+x")  # nothing running: a note, no error
        await pilot.press("ctrl+c")
    assert app.failure is None


async def test_escape_interrupts_the_assistant_mid_answer(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    app = console(tmp_path, fast=False, events=events)  # audio at real-time pace
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await say(pilot, "tell me a long story " + "and then " * 30)
        await until(pilot, "the answer playing", lambda: app.status.speaking == "assistant")
        await pilot.press("escape")
        await until(
            pilot,
            "the cut",
            lambda: any(line.endswith("[interrupted]") for line in transcript(app)),
        )
        await pilot.press("ctrl+c")
    assert app.failure is None
    log = [json.loads(line) for line in events.read_text().splitlines()]
    out = [e["event"]["type"] for e in log if e["dir"] == "out"]
    assert "response.cancel" in out and "conversation.item.truncate" in out
    assert any(
        e["event"]["type"] == "response.done" and e["event"]["response"]["status"] == "cancelled"
        for e in log
        if e["dir"] == "in"
    )


async def test_mic_shows_the_level_and_who_is_speaking(tmp_path: Path) -> None:
    device = FakeDevice()  # an in-memory sound card
    app = console(tmp_path, mic=device)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await until(pilot, "the microphone", lambda: bool(device.inputs))
        assert "mic ░░░░░░░░░░ listening" in app.status.render().plain
        feeding = asyncio.ensure_future(asyncio.to_thread(device.inputs[0].feed, tone(1.0)))
        await until(pilot, "speech", lambda: app.status.speaking == "you")
        await feeding
        shown = app.status.render().plain
        assert re.search(r"mic █{5,}░* you are speaking", shown), shown  # about -12 dBFS
        await asyncio.to_thread(device.inputs[0].feed, bytes(192_000))  # 2 s of silence (48 kHz)
        await until(
            pilot,
            "the spoken turn",
            lambda: any(line.startswith("you (voice) › ") for line in transcript(app)),
        )
        await until(pilot, "the answer", lambda: app.status.speaking == "listening")
        await pilot.press("ctrl+c")
    assert app.failure is None


async def test_push_to_talk_commits_what_was_said_and_the_answer_comes(tmp_path: Path) -> None:
    device = FakeDevice()
    events = tmp_path / "events.jsonl"
    app = console(tmp_path, mic=device, push_to_talk=True, events=events)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await until(pilot, "the microphone", lambda: bool(device.inputs))
        assert "push-to-talk: Ctrl-T to talk" in app.status.render().plain
        # Key off: what the microphone hears goes nowhere.
        await asyncio.to_thread(device.inputs[0].feed, tone(0.5))
        await pilot.press("ctrl+t")
        assert "● talking (Ctrl-T sends)" in app.status.render().plain
        await asyncio.to_thread(device.inputs[0].feed, tone(1.0))
        await pilot.press("ctrl+t")
        await until(
            pilot,
            "the spoken turn",
            lambda: any(line.startswith("you (voice) › ") for line in transcript(app)),
        )
        await until(
            pilot,
            "the answer",
            lambda: any(line.startswith("assistant › You said: ") for line in transcript(app)),
        )
        await pilot.press("ctrl+c")
    assert app.failure is None
    log = [json.loads(line) for line in events.read_text().splitlines()]
    out = [e["event"] for e in log if e["dir"] == "out"]
    (update,) = [e for e in out if e["type"] == "session.update"]
    assert update["session"]["audio"]["input"]["turn_detection"] is None
    kinds = [e["type"] for e in out if e["type"] != "input_audio_buffer.append"]
    assert kinds[1:] == ["input_audio_buffer.clear", "input_audio_buffer.commit", "response.create"]
    # Only the second tone went out (1 s: 50 blocks of 20 ms); the first (25 more) did not.
    appended = [e for e in out if e["type"] == "input_audio_buffer.append"]
    assert 40 <= len(appended) <= 50, len(appended)


def _args(**kwargs: object) -> argparse.Namespace:
    base: dict[str, object] = {"text": None, "audio_in": None, "app_server": None, "mic": False}
    return argparse.Namespace(**(base | {"console": None, "push_to_talk": False} | kwargs))


def test_when_the_console_runs() -> None:
    # Under pytest stdin is not a terminal: plain lines unless asked.
    assert not wants_console(_args())
    assert wants_console(_args(console=True))
    assert not wants_console(_args(console=False, mic=True))
    assert not wants_console(_args(text="hi"))
    assert wants_console(_args(console=True, mic=True, push_to_talk=True))
    for bad in (
        _args(console=True, text="hi"),
        _args(console=True, app_server="stdio"),
        _args(push_to_talk=True, console=True),  # no --mic
        _args(push_to_talk=True, mic=True, console=False),
    ):
        with pytest.raises(ConfigError):
            wants_console(bad)

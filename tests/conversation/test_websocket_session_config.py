"""The session a WebSocket conversation opens (reference 9.5): the defaults, the
base URL override, the backend prompt and startup context, and the voice, as the
emulator received them.
"""

from __future__ import annotations

from typing import Any

import pytest

from realtalk.conversation import Realtime, Started, StartParams
from realtalk.emulator import Emulator, EmulatorOptions
from realtalk.protocol import DEFAULT_BACKEND_PROMPT, SessionUpdated, Version

from ._ws_support import Factory, _is_started, _session_update
from .conftest import make_settings


async def test_conversation_start_defaults_to_v2_and_gpt_realtime_1_5(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start()
    started = await rec.wait_for(_is_started)
    assert isinstance(started, Started) and started.version is Version.V2
    await emulator.wait_for_sessions(1)
    assert emulator.sessions[0].path_qs == "/v1/realtime?model=gpt-realtime-1.5"
    assert "openai-alpha" not in {k.lower() for k in emulator.sessions[0].headers}
    update = await _session_update(emulator)
    assert update["session"]["audio"]["output"]["voice"] == "marin"
    names = [t["name"] for t in update["session"]["tools"]]
    assert names == [
        "background_agent",
        "remain_silent",
        "cancel_background_agent",
        "answer_approval",
    ]
    # The server's session.updated comes back as a typed event.
    await rec.wait_for(lambda e: isinstance(e, Realtime) and isinstance(e.payload, SessionUpdated))


async def test_uses_realtime_ws_base_url_override(manager_factory: Factory) -> None:
    async with (
        Emulator(EmulatorOptions(audio_realtime=False)) as api,
        Emulator(EmulatorOptions(audio_realtime=False)) as realtime,
    ):
        await api.start()
        await realtime.start()
        settings = make_settings(api.base_url, realtime_ws_base_url=realtime.base_url)
        mgr, rec = manager_factory(settings)
        await mgr.start()
        await rec.wait_for(_is_started)
        await realtime.wait_for_sessions(1)
        assert api.sessions == []


async def test_default_backend_prompt_and_startup_context(
    emulator: Emulator, manager_factory: Factory
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url, startup_context="CTX"))
    await mgr.start()
    await rec.wait_for(_is_started)
    update = await _session_update(emulator)
    assert update["session"]["instructions"] == DEFAULT_BACKEND_PROMPT + "\n\nCTX"


@pytest.mark.parametrize("prompt", [None, ""])
async def test_null_or_empty_prompt_gives_empty_instructions(
    emulator: Emulator, manager_factory: Factory, prompt: str | None
) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url))
    await mgr.start(StartParams(prompt=prompt))
    await rec.wait_for(_is_started)
    update = await _session_update(emulator)
    assert update["session"]["instructions"] == ""


async def test_config_backend_prompt_beats_start_prompt(
    emulator: Emulator, manager_factory: Factory
) -> None:
    settings = make_settings(emulator.base_url, backend_prompt="from config", startup_context="")
    mgr, rec = manager_factory(settings)
    await mgr.start(StartParams(prompt="from request"))
    await rec.wait_for(_is_started)
    update = await _session_update(emulator)
    assert update["session"]["instructions"] == "from config"


async def test_generated_startup_context_is_bounded(
    emulator: Emulator, manager_factory: Factory, tmp_path: Any
) -> None:
    for i in range(50):
        (tmp_path / f"file_{i}.txt").write_text("x")
    settings = make_settings(emulator.base_url, startup_context=None)
    mgr, rec = manager_factory(settings, workspace=tmp_path)
    await mgr.start(StartParams(prompt="P"))
    await rec.wait_for(_is_started)
    instructions = (await _session_update(emulator))["session"]["instructions"]
    assert instructions.startswith("P\n\n<startup_context>")
    assert "file_0.txt" in instructions and "more)" in instructions
    assert len(instructions) <= 20_500


async def test_explicit_and_configured_voice(emulator: Emulator, manager_factory: Factory) -> None:
    mgr, rec = manager_factory(make_settings(emulator.base_url, voice="cedar"))
    await mgr.start()
    await rec.wait_for(_is_started)
    assert (await _session_update(emulator))["session"]["audio"]["output"]["voice"] == "cedar"
    await mgr.start(StartParams(voice="sage"))
    await emulator.wait_for_sessions(2)
    update = await _session_update(emulator, 1)
    assert update["session"]["audio"]["output"]["voice"] == "sage"

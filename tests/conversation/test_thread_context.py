"""The startup context's ``## Current Thread`` section, and how a manager gets it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from realtalk.conversation import ConversationManager, Settings, Started, StartParams, ThreadTurn
from realtalk.conversation._context import (
    MAX_STARTUP_CONTEXT_CHARS,
    MAX_THREAD_CHARS,
    MAX_TURN_CHARS,
    build_startup_context,
    render_current_thread,
)
from realtalk.emulator import Emulator

from .conftest import Recorder, make_settings

Factory = Callable[..., tuple[ConversationManager, Recorder]]


def _turn(n: int, words: int = 5) -> ThreadTurn:
    return ThreadTurn((("User", f"question {n} " + "word " * words), ("Assistant", f"answer {n}")))


def test_no_turns_no_section() -> None:
    assert render_current_thread([]) == ""
    assert render_current_thread([ThreadTurn(())]) == ""
    assert "## Current Thread" not in build_startup_context(Path("/"), [])


def test_turns_oldest_first_newest_labelled_latest() -> None:
    section = render_current_thread([_turn(1), _turn(2), _turn(3)])
    assert section.startswith("## Current Thread\n")
    assert section.index("### Turn 1") < section.index("### Turn 2") < section.index("### Latest")
    latest = section[section.index("### Latest turn") :]
    assert "User: question 3" in latest and "Assistant: answer 3" in latest
    assert "left out" not in section


def test_a_long_turn_keeps_its_head_and_tail() -> None:
    long = ThreadTurn((("User", "START " + "x" * 5000), ("Assistant", "the END")))
    section = render_current_thread([long])
    body = section[section.index("### Latest turn") :]
    assert len(body) <= MAX_TURN_CHARS + len("### Latest turn\n")
    assert "User: START" in body and body.endswith("the END") and "[...]" in body


def test_the_oldest_turns_are_left_out_first() -> None:
    turns = [_turn(n, words=150) for n in range(1, 41)]  # about 800 characters each
    section = render_current_thread(turns)
    assert len(section) <= MAX_THREAD_CHARS
    assert "question 40" in section and "question 1 " not in section
    shown = section.count("### ")
    assert f"({40 - shown} earlier turns left out.)" in section


def test_the_thread_comes_before_the_workspace_and_all_fits(tmp_path: Path) -> None:
    for i in range(300):
        (tmp_path / f"file_{i:03}.txt").write_text("x")
    context = build_startup_context(tmp_path, [_turn(n, words=150) for n in range(40)])
    assert context.startswith("<startup_context>") and context.endswith("</startup_context>")
    assert context.index("## Current Thread") < context.index("## Workspace")
    assert len(context) <= MAX_STARTUP_CONTEXT_CHARS


async def _instructions(emulator: Emulator) -> str:
    await emulator.wait_for_sessions(1)
    record = emulator.sessions[0]
    update = await record.wait_for_message(lambda m: m.get("type") == "session.update")
    instructions: str = update["session"]["instructions"]
    return instructions


async def test_the_manager_reads_the_thread_at_start(
    emulator: Emulator, manager_factory: Factory, tmp_path: Path
) -> None:
    calls: list[int] = []

    async def history() -> Sequence[ThreadTurn]:
        calls.append(1)
        return [_turn(1), _turn(2)]

    settings = make_settings(emulator.base_url, startup_context=None)
    mgr, rec = manager_factory(settings, workspace=tmp_path, thread_history=history)
    await mgr.start(StartParams(prompt="P"))
    await rec.wait_for(lambda e: isinstance(e, Started))
    instructions = await _instructions(emulator)
    assert instructions.startswith("P\n\n<startup_context>")
    assert "### Latest turn\nUser: question 2" in instructions and calls == [1]


async def test_an_override_or_a_failing_history_leaves_the_section_out(
    emulator: Emulator, manager_factory: Factory, tmp_path: Path
) -> None:
    async def broken() -> Sequence[ThreadTurn]:
        raise OSError("store is gone")

    settings: Settings = make_settings(emulator.base_url, startup_context=None)
    mgr, rec = manager_factory(settings, workspace=tmp_path, thread_history=broken)
    await mgr.start(StartParams(prompt="P"))
    await rec.wait_for(lambda e: isinstance(e, Started))
    instructions = await _instructions(emulator)
    assert "## Workspace" in instructions and "## Current Thread" not in instructions


async def test_a_configured_context_is_used_verbatim(
    emulator: Emulator, manager_factory: Factory, tmp_path: Path
) -> None:
    async def history() -> Sequence[ThreadTurn]:
        return [_turn(1)]

    settings = make_settings(emulator.base_url, startup_context="CTX")
    mgr, rec = manager_factory(settings, workspace=tmp_path, thread_history=history)
    await mgr.start(StartParams(prompt="P"))
    await rec.wait_for(lambda e: isinstance(e, Started))
    assert await _instructions(emulator) == "P\n\nCTX"

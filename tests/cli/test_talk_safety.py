"""``realtalk talk`` with the sandboxed agent: no key anywhere, and the run log's startup lines."""

from __future__ import annotations

from pathlib import Path

from ._run import log_file, run_talk

CANARY = "sk-canary-TALK-0123456789abcdef"


async def test_talk_delegation_never_shows_the_key(
    tmp_path: Path, emulator_factory: object
) -> None:
    emulator = await emulator_factory()  # type: ignore[operator]
    run = await run_talk(
        tmp_path,
        "-v",
        "--base-url",
        emulator.base_url,
        "--transport",
        "websocket",
        "--text",
        "agent, run `printenv OPENAI_API_KEY`",
        env={"OPENAI_API_KEY": CANARY},
        timeout_s=90,
    )
    assert run.returncode == 0, run.stderr
    log = log_file(tmp_path).read_text()
    for where, text in (("stdout", run.stdout), ("stderr", run.stderr), ("log", log)):
        assert CANARY not in text and "canary-TALK" not in text, f"the key leaked into {where}"
    assert "agent command finished [command='printenv OPENAI_API_KEY' exit_code=1" in log
    assert "sandbox decision" in log
    assert "realtime session started [transport='websocket'" not in log  # plain value
    assert "realtime session started [transport=websocket session_id=" in log


async def test_talk_logs_startup_timing_with_call_id_and_session(tmp_path: Path) -> None:
    run = await run_talk(tmp_path, "--text", "hello", timeout_s=90)  # offline, WebRTC
    assert run.returncode == 0, run.stderr
    log = log_file(tmp_path).read_text()
    assert "realtalk run started [command=talk" in log
    assert "realtime start: call created elapsed_ms=" in log and "call_id=" in log
    assert "total_elapsed_ms=" in log
    assert "realtime session started [transport=webrtc session_id=" in log

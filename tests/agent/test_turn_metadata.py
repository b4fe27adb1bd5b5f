"""The x-codex-turn-metadata header: git facts within a time budget."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from realtalk.agent._turn_metadata import turn_metadata_header
from realtalk.emulator import ResponsesOptions

from ._responses_support import WAIT_S, model_client, prompt, responses_server


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "remote", "add", "origin", "https://user:token123@example.com/org/proj.git")
    (root / "a.txt").write_text("a")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "first")
    (root / "sub").mkdir()
    return root


async def test_metadata_from_a_repo_subdirectory(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    toplevel = git(repo, "rev-parse", "--show-toplevel")
    value = await turn_metadata_header(repo / "sub", budget_s=5.0)
    assert value is not None
    assert json.loads(value) == {
        "workspaces": {
            toplevel: {
                "associated_remote_urls": {"origin": "https://example.com/org/proj.git"},
                "latest_git_commit_hash": head,
            }
        }
    }
    assert "token123" not in value


async def test_no_metadata_outside_a_repo_without_cwd_or_over_budget(
    tmp_path: Path, repo: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert await turn_metadata_header(plain, budget_s=5.0) is None
    assert await turn_metadata_header(None) is None
    assert await turn_metadata_header(repo, budget_s=1e-6) is None


async def test_handshake_and_http_carry_the_metadata(repo: Path) -> None:
    async with (
        responses_server(ResponsesOptions(refuse_upgrade_426=True)) as (emu, base),
        model_client(base, workspace=repo, turn_metadata_budget_s=5.0) as client,
    ):
        await client.pre_establish_connection()
        assert not await client.wait_for_preconnect(WAIT_S)
        async with client.new_session() as session:
            await session.complete(prompt("hi"))
        handshake_value = emu.handshakes[0].headers["x-codex-turn-metadata"]
        http_value = emu.requests[0].headers["x-codex-turn-metadata"]
        assert handshake_value == http_value
        assert git(repo, "rev-parse", "HEAD") in handshake_value

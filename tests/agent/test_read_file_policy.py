"""read_file under the sandbox policy: hard links, denied paths, symlinks."""

from __future__ import annotations

import os
from pathlib import Path

from realtalk.agent import SandboxPolicy
from realtalk.agent._read_file import read_workspace_file


async def test_hard_link_to_a_file_outside_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    secret = tmp_path / "id_ed25519"
    secret.write_text("PRIVATE KEY")
    os.link(secret, ws / "innocent.txt")
    out = await read_workspace_file("innocent.txt", workspace=ws, cap=1024)
    assert out.startswith("error: 'innocent.txt' has 2 hard links")
    assert "PRIVATE" not in out
    (ws / "plain.txt").write_text("fine")
    assert await read_workspace_file("plain.txt", workspace=ws, cap=1024) == "fine"


async def test_denied_paths_and_escapes_are_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "secrets").mkdir(parents=True)
    (ws / "secrets" / "token").write_text("T0KEN")
    (tmp_path / "outside.txt").write_text("outside")
    (ws / "link").symlink_to(tmp_path / "outside.txt")
    policy = SandboxPolicy(deny=("secrets",)).resolve(ws)
    out = await read_workspace_file("secrets/token", workspace=ws, cap=1024, policy=policy)
    assert out.startswith("error:") and "denied by the sandbox policy" in out
    assert "outside the workspace" in await read_workspace_file("link", workspace=ws, cap=1024)
    assert "outside the workspace" in await read_workspace_file(
        "../outside.txt", workspace=ws, cap=1024
    )
    assert "outside the workspace" in await read_workspace_file(
        "/proc/self/environ", workspace=ws, cap=1024
    )

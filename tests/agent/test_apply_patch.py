"""apply_patch: the grammar, matching, atomic writes, and the policy, through the tool."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from realtalk.agent import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    PatchApplied,
    SafetyOptions,
    SandboxMode,
    SandboxPolicy,
)
from realtalk.agent._interface import AgentEvent
from realtalk.agent._patch import PatchError, PatchParseError, apply_chunks, parse_patch
from realtalk.agent._tools import ApprovalCancelledError, ToolRunner
from realtalk.protocol.responses import FunctionCall


class Harness:
    """A ToolRunner in ``ws`` whose questions get ``answer``; records questions and events."""

    def __init__(
        self,
        ws: Path,
        *,
        answer: ApprovalDecision = ApprovalDecision.DECLINE,
        approval: ApprovalPolicy = ApprovalPolicy.ON_REQUEST,
        mode: SandboxMode = SandboxMode.WORKSPACE_WRITE,
    ) -> None:
        self.questions: list[ApprovalRequest] = []
        self.events: list[AgentEvent] = []
        self.answer = answer

        async def ask(request: ApprovalRequest) -> ApprovalDecision:
            self.questions.append(request)
            return self.answer

        async def emit(event: AgentEvent) -> None:
            self.events.append(event)

        safety = SafetyOptions(sandbox=SandboxPolicy(mode=mode), approval=approval)
        self.runner = ToolRunner(
            workspace=ws,
            enable_shell=True,
            shell_timeout_s=30,
            output_cap_bytes=64 * 1024,
            safety=safety,
            ask=ask,
            emit=emit,
        )

    async def patch(self, text: str) -> str:
        args = msgspec.json.encode({"input": text}).decode()
        return await self.runner.run(FunctionCall("call_p", "apply_patch", args))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "app").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "app" / "config.py").write_text(
        "class Settings:\n    debug = True\n    name = 'x'\n\n\ndef main():\n    return 1\n"
    )
    (root / "app" / "legacy.py").write_text("old = 1\n")
    (root / "src").mkdir()
    (root / "src" / "old.py").write_text('import os\nVERSION = "1"\n')
    return root


async def test_add_update_with_several_hunks_delete_and_move(ws: Path) -> None:
    h = Harness(ws)
    out = await h.patch(
        "*** Begin Patch\n"
        "*** Add File: docs/hello.txt\n"
        "+hello\n"
        "+world\n"
        "*** Update File: app/config.py\n"
        "@@ class Settings:\n"
        "-    debug = True\n"
        "+    debug = False\n"
        "@@ def main():\n"
        "-    return 1\n"
        "+    return 2\n"
        "*** Delete File: app/legacy.py\n"
        "*** Update File: src/old.py\n"
        "*** Move to: src/new.py\n"
        "@@\n"
        " import os\n"
        '-VERSION = "1"\n'
        '+VERSION = "2"\n'
        "*** End of File\n"
        "*** End Patch\n"
    )
    assert out == (
        "Success. Updated the following files:\n"
        "A docs/hello.txt\nM app/config.py\nD app/legacy.py\nM src/new.py"
    )
    assert (ws / "docs" / "hello.txt").read_text() == "hello\nworld\n"
    assert (ws / "app" / "config.py").read_text() == (
        "class Settings:\n    debug = False\n    name = 'x'\n\n\ndef main():\n    return 2\n"
    )
    assert not (ws / "app" / "legacy.py").exists()
    assert not (ws / "src" / "old.py").exists()
    assert (ws / "src" / "new.py").read_text() == 'import os\nVERSION = "2"\n'
    (event,) = h.events
    assert isinstance(event, PatchApplied) and event.status == "completed"
    assert [(c.path, c.kind) for c in event.changes] == [
        ("docs/hello.txt", "add"),
        ("app/config.py", "update"),
        ("app/legacy.py", "delete"),
        ("src/new.py", "update"),
    ]
    assert h.questions == []  # all inside the workspace: no question under on-request
    assert sorted(p.name for p in (ws / "app").iterdir()) == ["config.py"]  # no temp files


async def test_a_bad_hunk_fails_precisely_and_changes_nothing(ws: Path) -> None:
    before = (ws / "app" / "config.py").read_text()
    out = await Harness(ws).patch(
        "*** Begin Patch\n"
        "*** Add File: new.txt\n"
        "+new\n"
        "*** Update File: app/config.py\n"
        "@@\n"
        "-    debug = Maybe\n"
        "+    debug = False\n"
        "*** End Patch"
    )
    assert out == (
        "error: apply_patch verification failed: Failed to find expected lines in "
        "app/config.py:\n    debug = Maybe\nNo files were modified."
    )
    assert (ws / "app" / "config.py").read_text() == before
    assert not (ws / "new.txt").exists()
    out = await Harness(ws).patch(
        "*** Begin Patch\n*** Update File: app/config.py\n@@ class Nope:\n-x\n+y\n*** End Patch"
    )
    assert "Failed to find context 'class Nope:' in app/config.py" in out


async def test_writes_are_all_or_nothing(ws: Path) -> None:
    # The second file's folder cannot be created (a file is in the way): the first
    # file, already staged, must not be changed either.
    (ws / "blocker").write_text("I am a file")
    before = (ws / "app" / "config.py").read_text()
    out = await Harness(ws).patch(
        "*** Begin Patch\n"
        "*** Update File: app/config.py\n"
        "@@\n-    debug = True\n+    debug = False\n"
        "*** Add File: blocker/inside.txt\n+x\n"
        "*** End Patch"
    )
    assert out.startswith("error: ") and out.endswith("No files were modified.")
    assert (ws / "app" / "config.py").read_text() == before
    assert sorted(p.name for p in (ws / "app").iterdir()) == ["config.py", "legacy.py"]


async def test_paths_outside_the_writable_roots_are_asked_about(ws: Path, tmp_path: Path) -> None:
    text = "*** Begin Patch\n*** Add File: ../outside.txt\n+x\n*** End Patch"
    declined = Harness(ws)
    out = await declined.patch(text)
    assert out.startswith("declined: the user did not approve these file changes")
    assert not (tmp_path / "outside.txt").exists()
    (question,) = declined.questions
    assert question.kind == "patch" and question.paths == ["../outside.txt"]
    assert question.question.startswith("May I change ../outside.txt?")
    accepted = Harness(ws, answer=ApprovalDecision.ACCEPT)
    assert (await accepted.patch(text)).startswith("Success.")
    assert (tmp_path / "outside.txt").read_text() == "x\n"
    # approval = never: refused without a question.
    never = Harness(ws, approval=ApprovalPolicy.NEVER, answer=ApprovalDecision.ACCEPT)
    out = await never.patch("*** Begin Patch\n*** Add File: .git/hooks/x\n+x\n*** End Patch")
    assert out.startswith("error: writing outside of the project; rejected by user approval")
    assert never.questions == [] and not (ws / ".git" / "hooks").exists()


async def test_symlinked_folders_cannot_smuggle_writes_out(ws: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (ws / "link").symlink_to(target)
    h = Harness(ws)
    out = await h.patch("*** Begin Patch\n*** Add File: link/x.txt\n+x\n*** End Patch")
    assert out.startswith("declined:") and not (target / "x.txt").exists()
    assert h.questions[0].paths == ["link/x.txt"]


async def test_untrusted_asks_for_every_patch_and_cancel_ends_the_task(ws: Path) -> None:
    h = Harness(ws, approval=ApprovalPolicy.UNTRUSTED, answer=ApprovalDecision.ACCEPT_FOR_SESSION)
    text = "*** Begin Patch\n*** Add File: a.txt\n+1\n*** End Patch"
    assert (await h.patch(text)).startswith("Success.")
    assert (await h.patch(text)).startswith("Success.")
    assert len(h.questions) == 1  # the same file was approved for the session
    h.answer = ApprovalDecision.CANCEL
    with pytest.raises(ApprovalCancelledError):
        await h.patch("*** Begin Patch\n*** Add File: b.txt\n+1\n*** End Patch")
    assert not (ws / "b.txt").exists()


async def test_read_only_mode_asks_before_any_write(ws: Path) -> None:
    h = Harness(ws, mode=SandboxMode.READ_ONLY)
    out = await h.patch("*** Begin Patch\n*** Add File: a.txt\n+1\n*** End Patch")
    assert out.startswith("declined:") and len(h.questions) == 1 and not (ws / "a.txt").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "Invalid patch: The first line of the patch must be '*** Begin Patch'"),
        (
            "*** Begin Patch\n*** Add File: a\n+x",
            "The last line of the patch must be '*** End Patch'",
        ),
        (
            "*** Begin Patch\n*** Frobnicate File: a\n*** End Patch",
            "Invalid patch hunk on line 2: '*** Frobnicate File: a' is not a valid hunk header. "
            "Valid hunk headers: '*** Add File: {path}', '*** Delete File: {path}', "
            "'*** Update File: {path}'",
        ),
        (
            "*** Begin Patch\n*** Update File: a\n*** End Patch",
            "Update file hunk for path 'a' is empty",
        ),
        (
            "*** Begin Patch\n*** Update File: a\n@@\n x\n*oops\n*** End Patch",
            "Unexpected line found in update hunk: '*oops'. Every line should start with ' ' "
            "(context line), '+' (added line), or '-' (removed line)",
        ),
    ],
)
def test_parse_errors_use_the_reference_wording(text: str, message: str) -> None:
    with pytest.raises(PatchParseError) as info:
        parse_patch(text)
    assert message in str(info.value)


async def test_invalid_patches_reach_the_model_as_errors(ws: Path) -> None:
    out = await Harness(ws).patch("*** Begin Patch\n*** Nope: x\n*** End Patch")
    assert out.startswith("error: Invalid patch hunk on line 2:")
    assert out.endswith("No files were modified.")


def test_heredoc_wrapper_and_fuzzy_matching() -> None:
    (hunk,) = parse_patch(
        "<<'EOF'\n*** Begin Patch\n*** Update File: a.py\n@@\n-x = 1 \u2013 2\n+x = 3\n*** End Patch\nEOF\n"
    )
    # Unicode dash in the patch, ASCII in the file (4th matching pass).
    assert apply_chunks("a.py", "x = 1 - 2\n", hunk.chunks) == "x = 3\n"  # type: ignore[union-attr]
    # Trailing whitespace in the file (2nd pass).
    (hunk,) = parse_patch("*** Begin Patch\n*** Update File: a\n@@\n-y\n+z\n*** End Patch")
    assert apply_chunks("a", "x\ny   \n", hunk.chunks) == "x\nz\n"  # type: ignore[union-attr]


def test_pure_additions_go_to_the_end_and_crlf_is_kept() -> None:
    (hunk,) = parse_patch(
        "*** Begin Patch\n*** Update File: a\n@@ first\n+appended\n@@\n-second\n+2nd\n*** End Patch"
    )
    assert apply_chunks("a", "first\r\nsecond\r\n", hunk.chunks) == "first\r\n2nd\r\nappended\r\n"  # type: ignore[union-attr]
    with pytest.raises(PatchError, match="Failed to find context 'first' in a"):
        apply_chunks("a", "nothing here\n", hunk.chunks)  # type: ignore[union-attr]


async def test_file_mode_is_kept(ws: Path) -> None:
    script = ws / "run.sh"
    script.write_text("echo 1\n")
    script.chmod(0o755)
    out = await Harness(ws).patch(
        "*** Begin Patch\n*** Update File: run.sh\n@@\n-echo 1\n+echo 2\n*** End Patch"
    )
    assert out.startswith("Success.")
    assert script.read_text() == "echo 2\n" and os.stat(script).st_mode & 0o777 == 0o755

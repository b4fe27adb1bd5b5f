"""Approvals: when the agent must ask before acting, and how the answer comes back.

Policies (``[agent] approval``, ``--approval``, app-server ``approvalPolicy``):

* ``never``: never ask. A command that asks for more than the sandbox allows
  (``sandbox_permissions: "require_escalated"``) and a patch outside the writable
  roots are refused.
* ``on-request`` (default): commands run in the sandbox without asking; the model
  asks (``require_escalated`` with a ``justification``) when a command needs more,
  e.g. the network, and a patch outside the writable roots is asked about.
* ``untrusted``: every command that is not a known read-only one (``ls``, ``cat``,
  ``git status``...) and every patch is asked about first; a command the sandbox
  refused may be retried outside it, once the user agrees.

An :data:`Approver` is an async callable the agent awaits for each question; it
answers with an :class:`ApprovalDecision`. ``acceptForSession`` also approves the
same command (or file) for the rest of the agent's life; ``cancel`` ends the task.
:func:`fixed_approver` always gives one answer (``realtalk exec --approve`` /
``--deny``). Without an approver the agent asks through its event stream (see
:class:`~realtalk.agent.ResponsesAgent.answer_approval`).
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Literal

import msgspec

__all__ = [
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalRequest",
    "Approver",
    "fixed_approver",
    "is_known_safe",
]


class ApprovalPolicy(enum.StrEnum):
    NEVER = "never"
    ON_REQUEST = "on-request"
    UNTRUSTED = "untrusted"


class ApprovalDecision(enum.StrEnum):
    """The answer to a question (the app-server's wire values)."""

    ACCEPT = "accept"
    ACCEPT_FOR_SESSION = "acceptForSession"
    DECLINE = "decline"
    CANCEL = "cancel"

    @property
    def approved(self) -> bool:
        return self in (ApprovalDecision.ACCEPT, ApprovalDecision.ACCEPT_FOR_SESSION)


_MAX_SPOKEN_COMMAND: Final = 120


class ApprovalRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One question to the user.

    ``reason`` says why the policy needs an answer, as a short sentence ("It needs
    the network."). ``command`` is set for commands, ``paths`` for patches.
    """

    id: str
    kind: Literal["command", "patch"]
    reason: str
    call_id: str = ""
    command: list[str] = msgspec.field(default_factory=list)
    cwd: str = ""
    paths: list[str] = msgspec.field(default_factory=list)

    @property
    def question(self) -> str:
        """The question, short enough to be spoken."""
        if self.kind == "command":
            shown = shlex.join(self.command)
            if len(shown) > _MAX_SPOKEN_COMMAND:
                shown = shown[: _MAX_SPOKEN_COMMAND - 1] + "…"
            return f"May I run `{shown}`? {self.reason}"
        names = ", ".join(self.paths[:3]) + (" and more" if len(self.paths) > 3 else "")
        return f"May I change {names}? {self.reason}"


Approver = Callable[[ApprovalRequest], Awaitable[ApprovalDecision]]
"""Answers one :class:`ApprovalRequest` (may take as long as the user does)."""


def fixed_approver(decision: ApprovalDecision) -> Approver:
    """An approver that always answers ``decision`` (non-interactive runs)."""

    async def answer(request: ApprovalRequest) -> ApprovalDecision:
        del request
        return decision

    return answer


_SAFE_COMMANDS: Final = frozenset(
    {
        "cat", "cd", "cut", "echo", "expr", "false", "grep", "head", "id", "ls", "nl",
        "paste", "pwd", "rev", "seq", "stat", "tail", "tr", "true", "uname", "uniq",
        "wc", "which", "whoami", "rg", "sort", "file", "du", "df", "basename", "dirname",
        "realpath", "readlink", "printf", "date", "tree",
    }
)  # fmt: skip
_SAFE_GIT: Final = frozenset({"status", "log", "diff", "show", "branch", "ls-files", "rev-parse"})
_UNSAFE_FIND: Final = frozenset(
    {"-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"}
)
_UNSAFE_RG: Final = frozenset({"--pre", "--hostname-bin", "--search-zip", "-z"})
_UNSAFE_SORT: Final = frozenset({"-o", "--output"})


def is_known_safe(argv: Sequence[str]) -> bool:
    """True for read-only commands that ``untrusted`` runs without asking."""
    if not argv:
        return False
    name = argv[0].rsplit("/", 1)[-1]
    args = list(argv[1:])
    if name == "git":
        sub = next((a for a in args if not a.startswith("-")), "")
        return sub in _SAFE_GIT and not any(a.startswith(("-c", "--output")) for a in args)
    if name == "find":
        return not any(a in _UNSAFE_FIND for a in args)
    if name == "rg":
        return not any(a.split("=", 1)[0] in _UNSAFE_RG for a in args)
    if name == "sort":
        return not any(a.split("=", 1)[0] in _UNSAFE_SORT or a.startswith("-o") for a in args)
    return name in _SAFE_COMMANDS

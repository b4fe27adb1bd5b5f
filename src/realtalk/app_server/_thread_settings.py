"""What a thread's params resolve to: its workspace and its sandbox and approval settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Final

from realtalk._config import Settings
from realtalk.agent import ApprovalPolicy, SafetyOptions, SandboxMode, safety_from_settings
from realtalk.app_server._api import ApprovalPolicyName, SandboxModeName, ThreadStartParams
from realtalk.app_server._connection import invalid_request

__all__ = ["APPROVAL_WIRE", "SANDBOX_WIRE", "resolve_cwd", "thread_safety"]

_CWD_SHOWN: Final = 200
"""Characters of a requested cwd quoted in an error message."""


def resolve_cwd(requested: str | None, default: Path | None) -> Path:
    try:
        base = default or Path.cwd()
        cwd = Path(requested).expanduser() if requested else base
        if not cwd.is_absolute():
            cwd = base / cwd
        usable = cwd.is_dir()
    except (RuntimeError, OSError, ValueError) as exc:
        # "~nouser/x" (RuntimeError), a name too long (OSError), a NUL byte (ValueError).
        shown = (requested or "")[:_CWD_SHOWN]
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise invalid_request(
            f"cwd {shown!r} cannot be used ({reason}); send an existing directory"
        ) from exc
    if not usable:
        raise invalid_request(f"cwd {str(cwd)[:_CWD_SHOWN]!r} is not a directory")
    return cwd


SANDBOX_WIRE: Final[dict[SandboxMode, SandboxModeName]] = {
    SandboxMode.READ_ONLY: "readOnly",
    SandboxMode.WORKSPACE_WRITE: "workspaceWrite",
    SandboxMode.DANGER_FULL_ACCESS: "dangerFullAccess",
}
APPROVAL_WIRE: Final[dict[ApprovalPolicy, ApprovalPolicyName]] = {
    ApprovalPolicy.NEVER: "never",
    ApprovalPolicy.ON_REQUEST: "onRequest",
    ApprovalPolicy.UNTRUSTED: "untrusted",
}


def thread_safety(settings: Settings, params: ThreadStartParams) -> SafetyOptions:
    """The thread's safety settings: the server's config, overridden by the params."""
    safety = safety_from_settings(settings)
    if params.sandbox is not None:
        mode = next(m for m, wire in SANDBOX_WIRE.items() if wire == params.sandbox)
        safety = replace(safety, sandbox=replace(safety.sandbox, mode=mode))
    if params.approval_policy is not None:
        wire = "untrusted" if params.approval_policy == "unlessTrusted" else params.approval_policy
        policy = next(p for p, name in APPROVAL_WIRE.items() if name == wire)
        safety = replace(safety, approval=policy)
    return safety

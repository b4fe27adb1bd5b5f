"""Running the agent's commands under the sandbox policy, with a scrubbed environment.

Every command runs inside bubblewrap unless the policy is ``danger-full-access``
or the user approved running one command outside the sandbox. When the sandbox
is needed and cannot be had (no bwrap, no user namespaces, not Linux) the command
is refused with the reason (fail closed); it never runs unsandboxed silently.

The environment is the process environment without secrets (see
:func:`realtalk._secrets.command_environment`); sandboxed commands also get
``TMPDIR=/tmp`` (their private tmp), ``REALTALK_SANDBOXED=bwrap`` and, with the
network off, ``REALTALK_SANDBOX_NETWORK_DISABLED=1``. Output is scrubbed of known
secrets before anyone sees it.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from realtalk._secrets import command_environment, scrub
from realtalk.agent._approval import ApprovalPolicy
from realtalk.agent._bwrap import SandboxStatus, bwrap_argv, sandbox_status
from realtalk.agent._process import ProcessResult, run_process
from realtalk.agent._sandbox import ResolvedPolicy, SandboxMode, SandboxPolicy

__all__ = [
    "CommandSandbox",
    "SafetyOptions",
    "ShellOutcome",
    "looks_like_sandbox_denial",
    "safety_from_settings",
]

logger = logging.getLogger(__name__)

_DENIAL_MARKERS: Final = (
    "operation not permitted",
    "permission denied",
    "read-only file system",
    "seccomp",
    "sandbox",
)
_NETWORK_DENIAL_MARKERS: Final = (
    "network is unreachable",
    "connection refused",  # the sandbox's own loopback has no listeners
    "temporary failure in name resolution",
    "name or service not known",
    "could not resolve host",
)


@dataclass(frozen=True, kw_only=True)
class SafetyOptions:
    """The agent's sandbox, approval and environment settings."""

    sandbox: SandboxPolicy = SandboxPolicy()
    approval: ApprovalPolicy = ApprovalPolicy.ON_REQUEST
    env_allow: tuple[str, ...] = ()
    approval_timeout_s: float = 300.0
    """Longest wait for an answer asked through the agent's events; then: declined."""


@dataclass(frozen=True, slots=True)
class ShellOutcome:
    """A command's result, or why it was refused before it ran."""

    result: ProcessResult | None
    refused: str | None
    sandboxed: bool


def looks_like_sandbox_denial(result: ProcessResult, *, network_off: bool) -> bool:
    """A failure that the sandbox probably caused (reference 4's keywords, and
    network errors when the sandbox has no network)."""
    if result.exit_code in (None, 0):
        return False
    lowered = result.output.lower()
    markers = _DENIAL_MARKERS + (_NETWORK_DENIAL_MARKERS if network_off else ())
    return any(marker in lowered for marker in markers)


class CommandSandbox:
    """Runs commands for one workspace under one :class:`SafetyOptions`."""

    def __init__(self, workspace: Path, options: SafetyOptions) -> None:
        self.workspace = workspace
        self.options = options
        # Fails now for a policy that cannot work (workspace-write on /).
        options.sandbox.resolve(workspace)

    def policy(self) -> ResolvedPolicy:
        """The rules as of now (``.git`` created since the last command is protected)."""
        return self.options.sandbox.resolve(self.workspace)

    async def status(self) -> SandboxStatus:
        """Whether sandboxed commands can run (probed once per bwrap binary)."""
        if not self.policy().sandboxed:
            return SandboxStatus(available=True, reason="danger-full-access: no sandbox")
        return await sandbox_status(self.workspace, os.environ.get("PATH"))

    async def run(
        self,
        argv: list[str],
        *,
        timeout_s: float,
        cap: int,
        escalated: bool = False,
        on_output: Callable[[bytes], None] | None = None,
    ) -> ShellOutcome:
        """Run ``argv`` in the workspace; ``escalated``: outside the sandbox (approved).

        ``on_output`` sees the raw output as it comes (see ``run_process``).
        """
        policy = self.policy()
        sandboxed = policy.sandboxed and not escalated
        extra: dict[str, str] = {}
        command = argv
        if sandboxed:
            status = await self.status()
            if not status.available or status.bwrap is None:
                logger.warning(
                    "command refused: no sandbox",
                    extra={"command": shlex.join(argv), "reason": status.reason},
                )
                return ShellOutcome(None, f"sandbox unavailable: {status.reason}", sandboxed=True)
            extra = {"TMPDIR": "/tmp", "REALTALK_SANDBOXED": "bwrap"}
            if not policy.network:
                extra["REALTALK_SANDBOX_NETWORK_DISABLED"] = "1"
            command = bwrap_argv(
                status.bwrap, policy, argv, cwd=policy.workspace, mount_proc=status.mount_proc
            )
        env = command_environment(os.environ, self.options.env_allow, extra=extra)
        if sandboxed and "/" not in argv[0] and shutil.which(argv[0], path=env.get("PATH")) is None:
            # The sandbox sees the same programs; say so plainly instead of bwrap's execvp text.
            missing = f"error: could not start {argv[0]!r}: No such file or directory"
            return ShellOutcome(
                ProcessResult(None, "", 0.0, start_error=missing), None, sandboxed=True
            )
        result = await run_process(
            command,
            cwd=policy.workspace,
            timeout_s=timeout_s,
            cap=cap,
            env=env,
            on_output=on_output,
        )
        result = ProcessResult(
            result.exit_code,
            scrub(result.output),
            result.wall_s,
            timed_out=result.timed_out,
            start_error=result.start_error,
        )
        logger.info(
            "agent command finished",
            extra={
                "command": scrub(shlex.join(argv)),
                "exit_code": result.exit_code,
                "timed_out": result.timed_out,
                "sandbox": policy.mode.value if sandboxed else "none",
                "wall_s": round(result.wall_s, 3),
            },
        )
        return ShellOutcome(result, None, sandboxed=sandboxed)


class SafetySettings(Protocol):
    """The fields of ``realtalk.conversation.Settings`` the agent's safety comes from."""

    @property
    def agent_sandbox(self) -> str: ...
    @property
    def agent_approval(self) -> str: ...
    @property
    def agent_env_allow(self) -> tuple[str, ...]: ...
    @property
    def sandbox_writable(self) -> tuple[str, ...]: ...
    @property
    def sandbox_read_only(self) -> tuple[str, ...]: ...
    @property
    def sandbox_deny(self) -> tuple[str, ...]: ...
    @property
    def sandbox_network(self) -> bool: ...


def safety_from_settings(settings: SafetySettings) -> SafetyOptions:
    """The agent's :class:`SafetyOptions` from resolved settings."""
    return SafetyOptions(
        sandbox=SandboxPolicy(
            mode=SandboxMode(settings.agent_sandbox),
            writable=settings.sandbox_writable,
            read_only=settings.sandbox_read_only,
            deny=settings.sandbox_deny,
            network=settings.sandbox_network,
        ),
        approval=ApprovalPolicy(settings.agent_approval),
        env_allow=settings.agent_env_allow,
    )

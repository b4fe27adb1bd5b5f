"""The built-in agent's tools: ``shell``, ``read_file`` and ``apply_patch``.

* ``shell`` runs ``command`` as an argv list (never through a shell, so nothing in
  the text is interpreted) in the workspace, inside the sandbox (see ``_shell``),
  with a timeout and an output cap (see ``_process``). ``sandbox_permissions:
  "require_escalated"`` with a ``justification`` asks the user to run it outside
  the sandbox (approval ``on-request`` only). A switch disables the tool: it is
  then not advertised, and a call gets an error output.
* ``read_file`` reads a regular file inside the workspace (see ``_read_file``).
* ``apply_patch`` applies a patch in the reference's format (see ``_patch``),
  all files or none, within the writable roots unless the user approves.

When a call needs the user's approval (see ``_approval``) the runner awaits
``ask``; a declined call returns a text saying so, and ``cancel`` raises
:class:`ApprovalCancelledError` (the turn ends). ``acceptForSession`` approves
the same command, or the same files, for the rest of the runner's life. The
runner reports what it does through ``emit``. Tools never raise otherwise: every
problem becomes the text returned to the model.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from realtalk._errors import AgentError, ConfigError
from realtalk.agent._approval import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    is_known_safe,
)
from realtalk.agent._interface import (
    AgentEvent,
    CommandFinished,
    CommandStarted,
    FileChange,
    PatchApplied,
)
from realtalk.agent._output_tail import OutputTail
from realtalk.agent._patch import PatchError, parse_patch
from realtalk.agent._patch_apply import apply_plan, plan_patch
from realtalk.agent._process import EXIT_GRACE_S, run_process, wait_for_exit
from realtalk.agent._read_file import read_workspace_file
from realtalk.agent._shell import CommandSandbox, SafetyOptions, looks_like_sandbox_denial
from realtalk.agent._tool_specs import (
    APPLY_PATCH_SPEC,
    APPLY_PATCH_TOOL,
    READ_FILE_SPEC,
    READ_FILE_TOOL,
    SHELL_SPEC,
    SHELL_TOOL,
)
from realtalk.protocol.responses import FunctionCall

__all__ = [
    "APPLY_PATCH_TOOL",
    "EXIT_GRACE_S",
    "READ_FILE_TOOL",
    "SHELL_DISABLED_OUTPUT",
    "SHELL_TOOL",
    "ApprovalCancelledError",
    "Ask",
    "ToolRunner",
    "read_workspace_file",
    "run_argv",
    "wait_for_exit",
]

SHELL_DISABLED_OUTPUT: Final = "error: the shell tool is disabled in this configuration"
_ESCALATE: Final = "require_escalated"
_CANCELLED: Final = "the user cancelled the task at an approval question"

Ask = Callable[[ApprovalRequest], Awaitable[ApprovalDecision]]
Emit = Callable[[AgentEvent], Awaitable[None]]


class ApprovalCancelledError(AgentError):
    """The user answered ``cancel``: the task ends."""


async def _no_one_to_ask(request: ApprovalRequest) -> ApprovalDecision:
    del request
    return ApprovalDecision.DECLINE


async def _drop(event: AgentEvent) -> None:
    del event


async def run_argv(argv: list[str], *, cwd: Path, timeout_s: float, cap: int) -> str:
    """Run ``argv`` unsandboxed, as is (for callers that sandbox themselves)."""
    result = await run_process(argv, cwd=cwd, timeout_s=timeout_s, cap=cap)
    return result.describe(timeout_s)


def _declined(what: str, decision: ApprovalDecision) -> str:
    if decision is ApprovalDecision.CANCEL:
        return f"declined: the user cancelled the task instead of approving {what}"
    return (
        f"declined: the user did not approve {what}. Do not retry it; continue without it "
        "or explain what you needed it for."
    )


class ToolRunner:
    """Advertises the tools and runs one function call at a time."""

    def __init__(
        self,
        *,
        workspace: Path,
        enable_shell: bool,
        shell_timeout_s: float,
        output_cap_bytes: int,
        safety: SafetyOptions | None = None,
        ask: Ask | None = None,
        emit: Emit | None = None,
    ) -> None:
        if shell_timeout_s <= 0 or output_cap_bytes <= 0:
            raise ConfigError("shell_timeout_s and output_cap_bytes must be positive")
        self._workspace = workspace
        self._enable_shell = enable_shell
        self._timeout_s = shell_timeout_s
        self._cap = output_cap_bytes
        self.safety = safety or SafetyOptions()
        self.sandbox = CommandSandbox(workspace, self.safety)
        self._ask = ask or _no_one_to_ask
        self._emit = emit or _drop
        self._approved_commands: set[tuple[str, ...]] = set()
        self._approved_paths: set[Path] = set()

    def specs(self) -> list[dict[str, Any]]:
        """Tool definitions for the request (``shell`` only when enabled)."""
        tools = [READ_FILE_SPEC, APPLY_PATCH_SPEC]
        return [SHELL_SPEC, *tools] if self._enable_shell else tools

    async def run(self, call: FunctionCall) -> str:
        """Run ``call`` and return the output text for ``function_call_output``.

        Raises:
            ApprovalCancelledError: The user cancelled the task at a question.
        """
        try:
            args = msgspec.json.decode(call.arguments or "{}")
        except msgspec.DecodeError:
            return f"error: the arguments of {call.name} are not valid JSON"
        if not isinstance(args, dict):
            return f"error: the arguments of {call.name} must be a JSON object"
        if call.name == SHELL_TOOL:
            if not self._enable_shell:
                return SHELL_DISABLED_OUTPUT
            return await self._shell(call.call_id, args)
        if call.name == READ_FILE_TOOL:
            path = args.get("path")
            if not isinstance(path, str) or not path:
                return "error: read_file needs a non-empty string 'path'"
            return await read_workspace_file(
                path, workspace=self._workspace, cap=self._cap, policy=self.sandbox.policy()
            )
        if call.name == APPLY_PATCH_TOOL:
            text = args.get("input")
            if not isinstance(text, str) or not text.strip():
                return "error: apply_patch needs the patch text in 'input'"
            return await self._apply_patch(call.call_id, text)
        return f"error: unknown tool {call.name!r}"

    async def _question(
        self,
        call_id: str,
        kind: Literal["command", "patch"],
        reason: str,
        *,
        command: list[str] | None = None,
        paths: list[str] | None = None,
    ) -> ApprovalDecision:
        request = ApprovalRequest(
            id=f"approval_{uuid.uuid4().hex[:12]}",
            kind=kind,
            reason=reason,
            call_id=call_id,
            command=command or [],
            cwd=str(self._workspace),
            paths=paths or [],
        )
        return await self._ask(request)

    # -- shell -----------------------------------------------------------------------

    async def _shell(self, call_id: str, args: dict[str, Any]) -> str:
        argv = args.get("command")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            return (
                "error: 'command' must be a non-empty array of strings (argv); "
                "shell strings are not run"
            )
        timeout_s = self._timeout_s
        timeout_ms = args.get("timeout_ms")
        if (
            isinstance(timeout_ms, int | float)
            and not isinstance(timeout_ms, bool)
            and timeout_ms > 0
        ):
            timeout_s = min(timeout_s, timeout_ms / 1000)
        policy = self.safety.approval
        sandboxed = self.sandbox.policy().sandboxed
        escalate = args.get("sandbox_permissions") == _ESCALATE and sandboxed
        justification = args.get("justification")
        key = tuple(argv)
        approved = key in self._approved_commands
        if escalate and policy is not ApprovalPolicy.ON_REQUEST:
            return (
                f"approval policy is {policy.value}; reject command — you should not ask for "
                f"escalated permissions if the approval policy is {policy.value}"
            )
        what = f"running `{shlex.join(argv)}`"
        if escalate and not approved:
            reason = (
                justification
                if isinstance(justification, str) and justification.strip()
                else "It has to run outside the sandbox."
            )
            decision = await self._decide(call_id, argv, reason)
            if not decision.approved:
                return await self._refuse_command(call_id, argv, what, decision)
        elif (
            policy is ApprovalPolicy.UNTRUSTED
            and sandboxed
            and not approved
            and not is_known_safe(argv)
        ):
            reason = "The approval policy asks before every command that may change things."
            decision = await self._decide(call_id, argv, reason)
            if not decision.approved:
                return await self._refuse_command(call_id, argv, what, decision)
        return await self._run_command(call_id, argv, timeout_s, escalated=escalate)

    async def _decide(self, call_id: str, argv: list[str], reason: str) -> ApprovalDecision:
        decision = await self._question(call_id, "command", reason, command=argv)
        if decision is ApprovalDecision.ACCEPT_FOR_SESSION:
            self._approved_commands.add(tuple(argv))
        return decision

    async def _refuse_command(
        self, call_id: str, argv: list[str], what: str, decision: ApprovalDecision
    ) -> str:
        text = _declined(what, decision)
        await self._emit(CommandFinished(call_id, argv, None, text, "declined"))
        if decision is ApprovalDecision.CANCEL:
            raise ApprovalCancelledError(_CANCELLED)
        return text

    async def _run_command(
        self, call_id: str, argv: list[str], timeout_s: float, *, escalated: bool
    ) -> str:
        sandbox_name = "none" if escalated else self.sandbox.policy().mode.value
        if sandbox_name == "danger-full-access":
            sandbox_name = "none"
        await self._emit(CommandStarted(call_id, argv, str(self._workspace), sandbox_name))
        async with OutputTail(call_id, self._emit) as tail:
            outcome = await self.sandbox.run(
                argv, timeout_s=timeout_s, cap=self._cap, escalated=escalated, on_output=tail.feed
            )
        if outcome.refused is not None:
            text = f"error: {outcome.refused}. The command was not run."
            await self._emit(CommandFinished(call_id, argv, None, text, "failed"))
            return text
        result = outcome.result
        assert result is not None
        if (
            outcome.sandboxed
            and self.safety.approval is ApprovalPolicy.UNTRUSTED
            and looks_like_sandbox_denial(result, network_off=not self.sandbox.policy().network)
        ):
            reason = "It failed inside the sandbox; it would run outside the sandbox."
            decision = await self._decide(call_id, argv, reason)
            if decision.approved:
                async with OutputTail(call_id, self._emit) as tail:
                    retried = await self.sandbox.run(
                        argv,
                        timeout_s=timeout_s,
                        cap=self._cap,
                        escalated=True,
                        on_output=tail.feed,
                    )
                result = retried.result or result
            elif decision is ApprovalDecision.CANCEL:
                raise ApprovalCancelledError(_CANCELLED)
        text = result.describe(timeout_s)
        status: Literal["completed", "failed"] = "completed" if result.exit_code == 0 else "failed"
        await self._emit(CommandFinished(call_id, argv, result.exit_code, result.output, status))
        return text

    # -- apply_patch -----------------------------------------------------------------

    async def _apply_patch(self, call_id: str, text: str) -> str:
        try:
            plan = plan_patch(parse_patch(text), self._workspace)
        except PatchError as exc:
            prefix = (
                "" if str(exc).startswith("Invalid patch") else "apply_patch verification failed: "
            )
            output = f"error: {prefix}{exc}\nNo files were modified."
            await self._emit(PatchApplied(call_id, [], "failed", output))
            return output
        changes = [FileChange(path, kind) for path, kind in plan.changes]  # type: ignore[arg-type]
        blocked = [p for p in plan.blocked(self.sandbox.policy()) if p not in self._approved_paths]
        policy = self.safety.approval
        if blocked and policy is ApprovalPolicy.NEVER:
            shown = ", ".join(str(p) for p in blocked)
            output = (
                f"error: writing outside of the project; rejected by user approval settings "
                f"(approval = never): {shown}\nNo files were modified."
            )
            await self._emit(PatchApplied(call_id, changes, "declined", output))
            return output
        unapproved = [p for p in plan.writes if p not in self._approved_paths]
        if blocked or (policy is ApprovalPolicy.UNTRUSTED and unapproved):
            reason = (
                "They are outside the folders I may write to."
                if blocked
                else "The approval policy asks before every change."
            )
            decision = await self._question(
                call_id, "patch", reason, paths=[p for p, _ in plan.changes]
            )
            if decision is ApprovalDecision.ACCEPT_FOR_SESSION:
                self._approved_paths.update(plan.writes)
            if not decision.approved:
                output = _declined("these file changes", decision) + "\nNo files were modified."
                await self._emit(PatchApplied(call_id, changes, "declined", output))
                if decision is ApprovalDecision.CANCEL:
                    raise ApprovalCancelledError(_CANCELLED)
                return output
        try:
            apply_plan(plan)
        except PatchError as exc:
            output = f"error: {exc}\nNo files were modified."
            await self._emit(PatchApplied(call_id, changes, "failed", output))
            return output
        output = plan.summary()
        await self._emit(PatchApplied(call_id, changes, "completed", output))
        return output

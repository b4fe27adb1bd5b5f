"""``realtalk exec "PROMPT"``: the built-in coding agent alone, no realtime session.

It streams what the agent does to stdout — commands (and the sandbox they ran
in), their output as it comes, patches, approval questions with their answers, and
the final message — as text, or with ``--json`` as JSON lines (reference 6 shapes:
``thread.started``, ``turn.started``, ``item.started`` / ``item.completed`` with
``command_execution``, ``file_change`` and ``agent_message`` items,
``turn.completed`` or ``turn.failed``; plus realtalk's ``approval`` lines and
``item.output_delta`` lines, ``{"item_id", "delta"}``, with a running command's new
output, as the app-server's ``item/commandExecution/outputDelta``). In text a
command's output stands indented under it, as it comes; the streamed lines are best
effort (lines that scroll past faster than ten times a second may be missing), so
when they are not the whole output, the whole (capped) output follows when the
command ends. Exit 0 when the task completed, 1 when it failed.

Without an API key and a base URL (or with ``--offline``) it runs against the
in-process emulator's scripted Responses model. Approval questions cannot be
answered interactively here: ``--deny`` (the default) declines them, ``--approve``
accepts them. The prompt is read from stdin when it is ``-`` or missing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

import msgspec

from realtalk._argtypes import seconds_arg
from realtalk._config import DEFAULT_API_BASE_URL, Settings, check_base_url, load_settings
from realtalk._errors import ConfigError, RealtalkError
from realtalk._secrets import scrub
from realtalk.agent import (
    AgentEvent,
    ApprovalDecision,
    ApprovalRequested,
    ApprovalResolved,
    AssistantMessage,
    CommandFinished,
    CommandOutput,
    CommandStarted,
    ModelClient,
    ModelClientOptions,
    PatchApplied,
    ResponsesAgent,
    TaskComplete,
    TaskFailed,
    fixed_approver,
    report_sandbox,
    safety_from_settings,
)
from realtalk.emulator import Emulator, EmulatorOptions

__all__ = ["EXEC_INSTRUCTIONS", "add_exec_arguments", "run_exec"]

logger = logging.getLogger(__name__)

OFFLINE_API_KEY = "offline-emulator-key"
INDENT = "  "
"""A command's output stands under it, indented by this."""

EXEC_INSTRUCTIONS = """\
You are a coding agent working in the user's workspace, without a conversation: do the
task with your tools, then answer with a short summary of what you did and found.
Run commands with `shell` (argv form), read files with `read_file`, and edit files with
`apply_patch`. Commands run in a sandbox; if one needs the network or to write outside
the workspace, ask for escalated permissions with a justification."""


def add_exec_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", nargs="?", default="-", help="the task (default: read stdin)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    p.add_argument(
        "-s",
        "--sandbox",
        choices=["read-only", "workspace-write", "danger-full-access"],
        help="sandbox policy for the agent's commands (default: config, else workspace-write)",
    )
    p.add_argument(
        "--approval",
        choices=["never", "on-request", "untrusted"],
        help="when the agent must ask first (default: config, else on-request)",
    )
    answer = p.add_mutually_exclusive_group()
    answer.add_argument(
        "--approve",
        action="store_true",
        help="answer yes to every approval question (e.g. a command that needs the network)",
    )
    answer.add_argument(
        "--deny", action="store_true", help="answer no to every approval question (default)"
    )
    p.add_argument("--network", action="store_true", help="let sandboxed commands use the network")
    p.add_argument(
        "-C", "--cd", metavar="DIR", help="workspace directory (default: config, else .)"
    )
    p.add_argument("--config", help="config file (default: $XDG_CONFIG_HOME/realtalk/config.toml)")
    p.add_argument("--base-url", help="API base URL, e.g. https://api.openai.com/v1")
    p.add_argument("-m", "--model", help="agent model (default: config, else gpt-5-codex)")
    p.add_argument(
        "--offline", action="store_true", help="use the built-in emulator even with an API key"
    )
    p.add_argument(
        "--timeout", type=seconds_arg, default=600.0, help="seconds the task may take (600)"
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds_arg,
        metavar="SECONDS",
        help="longest wait to connect to the model server (default: connect_timeout_s, else 15)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")


def _settings(args: argparse.Namespace) -> tuple[Settings, bool]:
    settings = load_settings(args.config)
    overrides: dict[str, object] = {}
    if args.base_url:
        overrides["base_url"] = check_base_url(args.base_url, "--base-url")
    if args.model:
        overrides["agent_model"] = args.model
    if args.sandbox:
        overrides["agent_sandbox"] = args.sandbox
    if args.approval:
        overrides["agent_approval"] = args.approval
    if args.network:
        overrides["sandbox_network"] = True
    if args.cd:
        overrides["workspace"] = args.cd
    if args.connect_timeout:
        overrides["connect_timeout_s"] = args.connect_timeout
    settings = msgspec.structs.replace(settings, **overrides)
    # No key and no server named anywhere: the offline emulator (as `realtalk talk` does).
    no_server = settings.base_url == DEFAULT_API_BASE_URL and not os.environ.get("OPENAI_BASE_URL")
    offline = args.offline or (settings.api_key is None and no_server)
    return settings, offline


def _workspace(settings: Settings) -> Path:
    workspace = Path(settings.workspace or ".").resolve()
    if not workspace.is_dir():
        raise ConfigError(f"workspace {str(workspace)!r} is not a directory (see -C)")
    return workspace


def _read_prompt(prompt: str) -> str:
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise ConfigError("no prompt: pass the task as an argument or on stdin")
    return text


class _Printer:
    """Turns agent events into text or JSON lines on ``out`` (every line scrubbed)."""

    def __init__(self, out: TextIO, *, json_lines: bool) -> None:
        self._out = out
        self._json = json_lines
        self._questions: dict[str, str] = {}
        self._items = 0
        self._streamed: dict[str, list[str]] = {}
        """call id -> the output lines shown while the command ran."""

    def _line(self, text: str) -> None:
        self._out.write(scrub(text) + "\n")
        self._out.flush()

    def _event(self, value: dict[str, Any]) -> None:
        self._line(msgspec.json.encode(value).decode())

    def _item(self, kind: str, item: dict[str, Any]) -> None:
        self._event({"type": kind, "item": item})

    def start(self, thread_id: str) -> None:
        if self._json:
            self._event({"type": "thread.started", "thread_id": thread_id})
            self._event({"type": "turn.started"})

    def show(self, event: AgentEvent) -> None:
        if self._json:
            self._show_json(event)
        else:
            self._show_text(event)

    def _indented(self, text: str) -> None:
        for line in text.split("\n"):
            self._line(INDENT + line if line else "")

    def _show_text(self, event: AgentEvent) -> None:
        if isinstance(event, CommandStarted):
            self._line(f"$ {shlex.join(event.command)}    [sandbox: {event.sandbox}]")
        elif isinstance(event, CommandOutput):
            self._streamed.setdefault(event.call_id, []).extend(event.text.split("\n"))
            self._indented(event.text)
        elif isinstance(event, CommandFinished):
            output = event.output.rstrip("\n")
            streamed = self._streamed.pop(event.call_id, None)
            if streamed is not None and output and streamed != scrub(output).split("\n"):
                self._line(f"{INDENT}[the whole output, as the model got it:]")
                self._indented(output)
            elif streamed is None and output:
                self._indented(output)
            code = f"exit {event.exit_code}" if event.exit_code is not None else event.status
            self._line(f"[{code}]")
        elif isinstance(event, PatchApplied):
            changes = ", ".join(f"{c.kind} {c.path}" for c in event.changes) or "no files"
            self._line(f"apply_patch ({event.status}): {changes}")
            if event.status != "completed":
                self._line(event.output)
        elif isinstance(event, ApprovalRequested):
            self._questions[event.request.id] = event.request.question
        elif isinstance(event, ApprovalResolved):
            question = self._questions.pop(event.request_id, "approval")
            self._line(f"approval: {question} -> {event.decision.value}")
        elif isinstance(event, AssistantMessage):
            self._line(event.text)

    def _show_json(self, event: AgentEvent) -> None:
        item: dict[str, Any]
        if isinstance(event, CommandStarted):
            item = {"id": event.call_id, "type": "command_execution"}
            item |= {"command": shlex.join(event.command), "sandbox": event.sandbox}
            self._item("item.started", item | {"status": "in_progress"})
        elif isinstance(event, CommandOutput):
            delta = {"type": "item.output_delta", "item_id": event.call_id}
            self._event(delta | {"delta": event.text + "\n"})
        elif isinstance(event, CommandFinished):
            item = {"id": event.call_id, "type": "command_execution"}
            item |= {"command": shlex.join(event.command), "aggregated_output": event.output}
            self._item(
                "item.completed", item | {"exit_code": event.exit_code, "status": event.status}
            )
        elif isinstance(event, PatchApplied):
            changes = [{"path": c.path, "kind": c.kind} for c in event.changes]
            patch: dict[str, Any] = {"id": event.call_id, "type": "file_change"}
            item = patch | {"changes": changes}
            self._item("item.completed", item | {"status": event.status})
        elif isinstance(event, ApprovalRequested):
            self._questions[event.request.id] = event.request.question
        elif isinstance(event, ApprovalResolved):
            question = self._questions.pop(event.request_id, "")
            self._event(
                {
                    "type": "approval",
                    "id": event.request_id,
                    "question": question,
                    "decision": event.decision.value,
                }
            )
        elif isinstance(event, AssistantMessage):
            self._items += 1
            item = {"id": f"item_{self._items}", "type": "agent_message", "text": event.text}
            self._item("item.completed", item)
        elif isinstance(event, TaskComplete):
            usage = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0}
            self._event({"type": "turn.completed", "usage": usage})
        elif isinstance(event, TaskFailed):
            self._event({"type": "turn.failed", "error": {"message": event.message}})


async def run_exec(args: argparse.Namespace) -> int:
    prompt = _read_prompt(args.prompt)
    settings, offline = _settings(args)
    workspace = _workspace(settings)
    safety = safety_from_settings(settings)
    decision = ApprovalDecision.ACCEPT if args.approve else ApprovalDecision.DECLINE
    printer = _Printer(sys.stdout, json_lines=args.json)
    emulator: Emulator | None = None
    try:
        base_url, api_key = settings.base_url, settings.api_key or ""
        if offline:
            emulator = Emulator(EmulatorOptions())
            base_url, api_key = await emulator.start(), OFFLINE_API_KEY
            logger.info("exec uses the offline emulator", extra={"base_url": base_url})
        client = ModelClient(
            base_url,
            api_key=api_key,
            options=ModelClientOptions(
                workspace=workspace, connect_timeout_s=settings.connect_timeout_s
            ),
        )
        agent = ResponsesAgent(
            client,
            workspace=workspace,
            model=settings.agent_model,
            instructions=EXEC_INSTRUCTIONS,
            enable_shell=settings.agent_enable_shell,
            safety=safety,
            approver=fixed_approver(decision),
        )
        try:
            return await _run(agent, workspace, prompt, printer, timeout_s=args.timeout)
        finally:
            await agent.aclose()
    finally:
        if emulator is not None:
            await emulator.aclose()


async def _run(
    agent: ResponsesAgent, workspace: Path, prompt: str, printer: _Printer, *, timeout_s: float
) -> int:
    await report_sandbox(
        agent, workspace, lambda text: print(f"realtalk: {text}", file=sys.stderr, flush=True)
    )
    printer.start(f"thread_{uuid.uuid4().hex[:16]}")
    await agent.submit(prompt)
    try:
        async with asyncio.timeout(timeout_s):
            async for event in agent.events():
                printer.show(event)
                if isinstance(event, TaskComplete):
                    return 0
                if isinstance(event, TaskFailed):
                    print(f"realtalk: error: {scrub(event.message)}", file=sys.stderr)
                    return 1
    except TimeoutError as exc:
        raise RealtalkError(
            f"the task did not finish within {timeout_s:g} s (see --timeout)"
        ) from exc
    raise RealtalkError("the agent stopped before the task ended")

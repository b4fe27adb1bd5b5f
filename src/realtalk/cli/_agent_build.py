"""The background agent of ``talk`` and ``demo``: a configured command, or the built-in one.

The built-in agent has no approver: its approval questions are put to the person by
the realtime model, whose ``answer_approval`` call answers them (``exec`` decides with
its ``--approve`` / ``--deny`` flags instead).
"""

from __future__ import annotations

from pathlib import Path

from realtalk._config import Settings
from realtalk.agent import (
    BackgroundAgent,
    CommandAgent,
    ModelClient,
    ModelClientOptions,
    ResponsesAgent,
    safety_from_settings,
)

__all__ = ["AGENT_INSTRUCTIONS", "build_agent"]

AGENT_INSTRUCTIONS = """\
You are the background coding agent behind a voice conversation. The requests you get
were spoken by a person and relayed by a realtime voice model inside a
<realtime_delegation> block (their words, plus what was said since the last request).
Do the work with your tools: run commands with `shell` (argv form), read files with
`read_file` and edit them with `apply_patch`, inside the workspace; commands run in a
sandbox without network; when a command needs more (the network, say), set
`sandbox_permissions` to "require_escalated" with a short `justification` and the
user is asked. Then answer in a few short plain sentences that can be
read aloud: what you did and what you found. No markdown tables or long code listings.
If a later message steers the task, adjust the current work rather than starting over."""


def build_agent(settings: Settings) -> BackgroundAgent:
    """The configured background agent: a command when set, else the built-in agent."""
    workspace = Path(settings.workspace) if settings.workspace else Path.cwd()
    if settings.agent_command:
        return CommandAgent(
            list(settings.agent_command),
            input_mode=settings.agent_input,
            timeout=settings.agent_timeout_s,
            cwd=workspace,
        )
    client = ModelClient(
        settings.base_url,
        api_key=settings.api_key or "",
        options=ModelClientOptions(
            workspace=workspace, connect_timeout_s=settings.connect_timeout_s
        ),
    )
    return ResponsesAgent(
        client,
        workspace=workspace,
        model=settings.agent_model,
        instructions=AGENT_INSTRUCTIONS,
        enable_shell=settings.agent_enable_shell,
        safety=safety_from_settings(settings),
        # No approver: a question waits for the user's spoken (or typed) yes/no, which the
        # realtime model passes on with answer_approval (see conversation/_agent_link.py);
        # unanswered, it is declined after SafetyOptions.approval_timeout_s (300 s).
        approver=None,
        task_timeout_s=settings.agent_timeout_s,
    )

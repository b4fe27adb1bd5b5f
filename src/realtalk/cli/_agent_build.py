"""The background agent of ``talk`` and ``demo``: a configured command, or the built-in one.

The built-in agent has no approver when someone can answer: its approval questions are
put to the person by the realtime model, whose ``answer_approval`` call answers them
(``exec`` decides with its ``--approve`` / ``--deny`` flags instead).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from realtalk._config import Settings
from realtalk.agent import (
    ApprovalDecision,
    BackgroundAgent,
    CommandAgent,
    ModelClient,
    ModelClientOptions,
    ResponsesAgent,
    fixed_approver,
    report_sandbox,
    safety_from_settings,
)

__all__ = ["AGENT_INSTRUCTIONS", "build_agent", "ready_agent"]

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


def build_agent(settings: Settings, *, ask_person: bool = True) -> BackgroundAgent:
    """The configured background agent: a command when set, else the built-in agent.

    ``ask_person``: someone can answer the agent's questions (typed lines, a microphone).
    False for scripted runs (``demo``, ``talk --text``, ``--audio-in`` alone): nobody
    could answer, so a question is declined at once with a clear output for the agent
    instead of waiting five minutes.
    """
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
        approver=None if ask_person else fixed_approver(ApprovalDecision.DECLINE),
        task_timeout_s=settings.agent_timeout_s,
    )


async def ready_agent(
    agent: BackgroundAgent | None,
    settings: Settings,
    report: Callable[[str], None],
    *,
    ask_person: bool,
) -> BackgroundAgent:
    """``agent`` or the configured one (:func:`build_agent`), ready to take work: the
    built-in agent reports its sandbox (``report``) and warms its model connection so
    the first delegation does not pay the handshake (best effort, never raises)."""
    if agent is None:
        agent = build_agent(settings, ask_person=ask_person)
    if isinstance(agent, ResponsesAgent):
        await report_sandbox(agent, Path(settings.workspace or "."), report)
        await agent.start()
    return agent

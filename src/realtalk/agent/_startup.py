"""The startup report of the agent's sandbox: one log line, and a warning when it fails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from realtalk.agent._responses_agent import ResponsesAgent

__all__ = ["report_sandbox"]

logger = logging.getLogger(__name__)


async def report_sandbox(
    agent: ResponsesAgent, workspace: Path, warn: Callable[[str], None]
) -> None:
    """Log the sandbox decision; warn once when commands will be refused."""
    status = await agent.sandbox_status()
    policy = agent.safety.sandbox.resolve(workspace)
    logger.info(
        "sandbox decision",
        extra={
            "policy": policy.describe(),
            "available": status.available,
            "reason": status.reason,
            "approval": agent.safety.approval.value,
        },
    )
    if not status.available:
        warn(f"warning: the agent's commands will be refused: {status.reason}")

"""Fixtures of the agent tests: ``make_agent`` builds CommandAgents and closes them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtalk.agent import CommandAgent

from ._command_support import WAIT, Factory


@pytest.fixture
async def make_agent() -> AsyncIterator[Factory]:
    agents: list[CommandAgent] = []

    def factory(argv: list[str], **kwargs: Any) -> CommandAgent:
        agent = CommandAgent(argv, **kwargs)
        agents.append(agent)
        return agent

    yield factory
    for agent in agents:
        async with asyncio.timeout(WAIT):
            await agent.aclose()

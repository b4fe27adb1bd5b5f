"""Helpers for the Responses client and agent tests: a bare emulator app on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from realtalk.agent import (
    AgentEvent,
    ApprovalRequested,
    ApprovalResolved,
    AssistantDelta,
    CommandFinished,
    CommandOutput,
    CommandStarted,
    ModelClient,
    ModelClientOptions,
    PatchApplied,
    Prompt,
    ResponsesAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.emulator import ResponsesEmulator, ResponsesOptions
from realtalk.protocol.responses import Item, user_message

API_KEY = "sk-test-secret-key"
WAIT_S = 5.0
SHELL_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "shell",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "array", "items": {"type": "string"}}},
        "required": ["command"],
    },
}
"""Declared by :func:`prompt`: the emulator's model calls only declared tools."""


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (free port); yield the ``http://host:port`` origin."""
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def responses_server(
    options: ResponsesOptions | None = None,
) -> AsyncIterator[tuple[ResponsesEmulator, str]]:
    """A standalone :class:`ResponsesEmulator`; yields it and the API base URL (``/v1``)."""
    emulator = ResponsesEmulator(options)
    app = web.Application()
    emulator.install(app)
    async with serve_app(app) as origin:
        yield emulator, f"{origin}/v1"


def client_options(**overrides: Any) -> ModelClientOptions:
    """Options with fast retries and short (but safe) timeouts."""
    values: dict[str, Any] = {
        "retry_base_delay_s": 0.001,
        "connect_timeout_s": 5.0,
        "idle_timeout_s": 10.0,
    }
    values.update(overrides)
    return ModelClientOptions(**values)


@asynccontextmanager
async def model_client(base_url: str, **overrides: Any) -> AsyncIterator[ModelClient]:
    """A :class:`ModelClient` closed on exit."""
    client = ModelClient(
        base_url, api_key=API_KEY, session_id="sess-1", options=client_options(**overrides)
    )
    try:
        yield client
    finally:
        await client.aclose()


def prompt(items: Sequence[Item] | str) -> Prompt:
    """A prompt for ``items`` (a string becomes one user message)."""
    input_items = [user_message(items)] if isinstance(items, str) else list(items)
    return Prompt(
        model="test-model", instructions="be brief", input=input_items, tools=[SHELL_TOOL]
    )


@asynccontextmanager
async def agent_at(
    base_url: str, workspace: Path, *, max_retries: int = 0, **kwargs: object
) -> AsyncIterator[ResponsesAgent]:
    """A :class:`ResponsesAgent` on a fresh client (``max_retries`` per request), closed on exit."""
    options = client_options(stream_max_retries=max_retries)
    client = ModelClient(base_url, api_key=API_KEY, options=options)
    agent = ResponsesAgent(
        client,
        workspace=workspace,
        model="test-model",
        instructions="help",
        **kwargs,  # type: ignore[arg-type]
    )
    try:
        yield agent
    finally:
        await agent.aclose()


_TOOL_EVENTS = (
    CommandStarted,
    CommandOutput,
    CommandFinished,
    PatchApplied,
    ApprovalRequested,
    ApprovalResolved,
)


async def until_done(
    agent: ResponsesAgent, *, deltas: bool = False, tools: bool = False
) -> list[AgentEvent]:
    """Events up to and including the next TaskComplete/TaskFailed.

    Deltas and tool/approval events only when asked.
    """
    events: list[AgentEvent] = []
    async with asyncio.timeout(WAIT_S):
        async for event in agent.events():
            if isinstance(event, AssistantDelta) and not deltas:
                continue
            if isinstance(event, _TOOL_EVENTS) and not tools:
                continue
            events.append(event)
            if isinstance(event, TaskComplete | TaskFailed):
                break
    return events

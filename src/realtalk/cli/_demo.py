"""``realtalk demo``: a short scripted conversation against the offline emulator."""

from __future__ import annotations

import argparse

from realtalk.cli._render import Renderer
from realtalk.cli._session import TalkRuntime
from realtalk.cli._settings import resolve_cli_settings

__all__ = ["DEMO_LINES", "run_demo"]

DEMO_LINES = (
    "Hello! What can you do?",
    "agent, run `echo realtalk handoff works` and tell me what it printed",
)


async def run_demo(args: argparse.Namespace) -> int:
    settings, _ = resolve_cli_settings(args)
    renderer = Renderer(verbose=args.verbose)
    renderer.info(
        "realtalk demo: an offline conversation with a delegation to the background agent"
    )
    async with TalkRuntime(
        settings,
        renderer=renderer,
        offline=True,
        events_jsonl=args.events_jsonl,
        fast_emulator_audio=True,
        ask_person=False,  # scripted lines: nobody answers the agent's questions
    ) as runtime:
        await runtime.start()
        for line in DEMO_LINES:
            await runtime.say(line, timeout=args.timeout)
        assert runtime.manager is not None
        await runtime.manager.close()
    renderer.info("demo finished")
    return 0

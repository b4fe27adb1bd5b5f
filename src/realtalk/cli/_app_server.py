"""``realtalk app-server``: JSON-RPC over stdio (default) or a WebSocket listener.

The server lives in :mod:`realtalk.app_server`; this entry point decides offline or
real API exactly as ``talk`` does: without ``OPENAI_API_KEY`` and without a base URL
it starts the emulator in-process, says so on stderr (stdout may be the protocol), and
serves against it; with a base URL but no key it says which variable to set.
"""

from __future__ import annotations

import argparse
import sys

from realtalk._config import load_settings
from realtalk.app_server import add_app_server_arguments as _add_arguments
from realtalk.app_server import run_app_server_from_args
from realtalk.cli._offline import embedded_emulator, require_api_key, runs_offline

__all__ = ["add_app_server_arguments", "run_app_server"]


def add_app_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``realtalk app-server`` options (and its ``generate-json-schema`` subcommand)."""
    _add_arguments(parser)


def _announce(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def run_app_server(args: argparse.Namespace) -> int:
    """Run ``realtalk app-server`` with parsed ``args``; returns the exit code."""
    if getattr(args, "app_server_command", None) == "generate-json-schema":
        return await run_app_server_from_args(args)
    settings = load_settings(args.config)
    if not runs_offline(settings, base_url_flag=None):
        require_api_key(settings)
        return await run_app_server_from_args(args, settings=settings)
    async with embedded_emulator(settings, announce=_announce) as offline:
        return await run_app_server_from_args(args, settings=offline)

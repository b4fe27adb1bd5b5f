"""``realtalk app-server``: JSON-RPC over stdio (default) or a WebSocket listener.

The implementation lives in :mod:`realtalk.app_server`; this module is the CLI's
entry point for it.
"""

from __future__ import annotations

import argparse

from realtalk.app_server import add_app_server_arguments as _add_arguments
from realtalk.app_server import run_app_server_from_args

__all__ = ["add_app_server_arguments", "run_app_server"]


def add_app_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``realtalk app-server`` options (and its ``generate-json-schema`` subcommand)."""
    _add_arguments(parser)


async def run_app_server(args: argparse.Namespace) -> int:
    """Run ``realtalk app-server`` with parsed ``args``; returns the exit code."""
    return await run_app_server_from_args(args)

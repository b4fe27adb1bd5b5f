"""``realtalk app-server``: JSON-RPC over stdio (default) or a WebSocket listener.

``realtalk app-server generate-json-schema OUT_DIR`` writes the protocol's JSON
Schema instead of serving.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from realtalk._argtypes import count_arg
from realtalk._errors import ConfigError
from realtalk._signals import wait_for_stop_signal
from realtalk.app_server._connection import ConnectionLimits

if TYPE_CHECKING:
    from realtalk._config import Settings
    from realtalk.app_server._dispatch import AppServerOptions
    from realtalk.app_server._store_sqlite import SqliteThreadStore

__all__ = ["add_app_server_arguments", "run_app_server_from_args"]

logger = logging.getLogger(__name__)

TOKEN_ENV: Final = "REALTALK_APP_SERVER_TOKEN"
"""The environment variable that holds the app-server's bearer token."""


def add_app_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``realtalk app-server`` options (and its ``generate-json-schema`` subcommand)."""
    parser.add_argument(
        "--listen",
        default="stdio://",
        metavar="URL",
        help="stdio:// (default: JSON lines on stdin/stdout) or ws://HOST:PORT (port 0: pick one)",
    )
    parser.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help=f"require 'Authorization: Bearer TOKEN' on WebSocket connections "
        f"(required off loopback; default ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed to connect, e.g. http://localhost:3000 (repeatable)",
    )
    parser.add_argument(
        "--web",
        action="store_true",
        help="also serve the browser page on the --listen address (prints its URL)",
    )
    parser.add_argument(
        "--config", help="config file (default: $XDG_CONFIG_HOME/realtalk/config.toml)"
    )
    parser.add_argument(
        "--cwd", help="default workspace of threads (default: the current directory)"
    )
    state = parser.add_mutually_exclusive_group()
    state.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where threads are stored, in DIR/threads.sqlite3 "
        "(default $REALTALK_STATE_DIR, config state_dir, else $XDG_STATE_HOME/realtalk)",
    )
    state.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep threads in memory only: nothing is written, thread/list starts empty",
    )
    parser.add_argument(
        "--max-threads",
        type=count_arg,
        default=ConnectionLimits.max_threads,
        metavar="N",
        help="threads one connection may hold at once (default %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="app_server_command")
    schema = sub.add_parser(
        "generate-json-schema",
        help="write JSON Schema for every request, response and notification",
    )
    schema.add_argument("out_dir", metavar="OUT_DIR")
    schema.add_argument(
        "--experimental", action="store_true", help="include the experimental realtime API"
    )


async def _report_sandbox(mode: str, workspace: Path) -> None:
    """Say once at startup when the agent's commands will be refused (fail closed)."""
    from realtalk.agent import sandbox_status

    if mode == "danger-full-access":
        return
    status = await sandbox_status(workspace, os.environ.get("PATH"))
    logger.info(
        "sandbox decision",
        extra={"policy": mode, "available": status.available, "reason": status.reason},
    )
    if not status.available:
        print(
            f"realtalk app-server: warning: the agent's commands will be refused: {status.reason}",
            file=sys.stderr,
            flush=True,
        )


def _default_cwd(value: str | None) -> Path | None:
    return Path(value).resolve() if value else None


async def run_app_server_from_args(
    args: argparse.Namespace, *, settings: Settings | None = None
) -> int:
    """Run ``realtalk app-server`` with parsed ``args``; returns the exit code.

    ``settings`` are what the caller resolved (``realtalk app-server`` passes the
    embedded emulator's when it runs offline); without them they are loaded from the
    config file and the environment, and an API key is required.

    Raises:
        ConfigError: Bad options, no API key, or the listener cannot start.
    """
    from realtalk._config import load_settings
    from realtalk.app_server._dispatch import AppServerOptions
    from realtalk.app_server._schema import generate_json_schema
    from realtalk.app_server._server import parse_listen_url

    if getattr(args, "app_server_command", None) == "generate-json-schema":
        written = generate_json_schema(Path(args.out_dir), experimental=args.experimental)
        print(f"wrote {len(written)} schema files to {args.out_dir}", file=sys.stderr)
        return 0
    listen = parse_listen_url(args.listen)
    web = bool(getattr(args, "web", False))
    if web and listen is None:
        raise ConfigError("--web needs a WebSocket listener: add --listen ws://127.0.0.1:PORT")
    if settings is None:
        settings = load_settings(args.config)
        if not settings.api_key:
            raise ConfigError(
                "OPENAI_API_KEY is not set: set it, or run `realtalk app-server`, which "
                "starts the offline emulator when there is no key and no base URL"
            )
    store = None if args.ephemeral else await _open_store(_store_path(args.state_dir, settings))
    try:
        options = AppServerOptions(default_cwd=_default_cwd(args.cwd), store=store)
        await _report_sandbox(settings.agent_sandbox, options.default_cwd or Path.cwd())
        return await _serve(args, listen, settings, options)
    finally:
        if store is not None:
            await store.aclose()


def _store_path(state_dir: str | None, settings: Settings) -> Path:
    from realtalk._config import default_state_dir
    from realtalk.app_server._store_sqlite import STORE_FILE_NAME

    directory = Path(state_dir or settings.state_dir or default_state_dir()).expanduser()
    return directory / STORE_FILE_NAME


async def _open_store(path: Path) -> SqliteThreadStore:
    from realtalk.app_server._store_sqlite import SqliteThreadStore

    store = await SqliteThreadStore.open(path)
    logger.info("threads are stored in %s", store.path)
    return store


async def _serve(
    args: argparse.Namespace,
    listen: tuple[str, int] | None,
    settings: Settings,
    options: AppServerOptions,
) -> int:
    from realtalk.app_server._server import AppServer

    limits = ConnectionLimits(max_threads=args.max_threads)
    async with AppServer(settings, options, limits=limits) as server:
        stop = asyncio.Event()
        if listen is None:
            serve = asyncio.create_task(server.serve_stdio())
            signalled = asyncio.create_task(wait_for_stop_signal(stop))
            await asyncio.wait({serve, signalled}, return_when=asyncio.FIRST_COMPLETED)
            signalled.cancel()
            serve.cancel()
            await asyncio.gather(serve, signalled, return_exceptions=True)
            return 0
        host, port = listen
        token = args.auth_token or os.environ.get(TOKEN_ENV) or None
        web = bool(getattr(args, "web", False))
        url = await server.start_websocket(
            host, port, auth_token=token, allowed_origins=args.allow_origin, web=web
        )
        print(f"READY {url}", flush=True)
        if web:
            print(f"WEB {server.web_url}", flush=True)
        await wait_for_stop_signal(stop)
    return 0

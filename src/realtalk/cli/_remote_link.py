"""Reaching the app-server remote ``talk`` runs through: a running one, or one it spawns.

``--app-server ws://HOST:PORT`` connects (a refused token says which flag or variable
gives it); ``--app-server stdio`` runs ``realtalk app-server`` as a child process with
the run's base URLs and timeouts in its environment, and, offline (no key, no base
URL), with the embedded emulator started here for it. Connection failures are one
line each.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from realtalk._errors import ConnectError, HandshakeError
from realtalk.app_server import TOKEN_ENV, Client, Notification, default_server_command
from realtalk.cli._offline import OFFLINE_API_KEY, offline_notice
from realtalk.cli._settings import resolve_cli_settings
from realtalk.emulator import Emulator, EmulatorOptions

__all__ = ["connect_app_server", "one_line", "spawn_app_server"]

OnNotification = Callable[[Notification], None]
Tap = Callable[[str, bytes], None]


def one_line(text: str) -> str:
    return " ".join(text.split())


async def connect_app_server(
    url: str,
    token: str | None,
    *,
    on_notification: OnNotification,
    tap: Tap,
    open_timeout: float,
) -> Client:
    """A client of the app-server at ``url``.

    Raises:
        ConnectError: It cannot be reached, or refused the handshake (in one line).
    """
    try:
        return await Client.connect(
            url,
            token=token,
            on_notification=on_notification,
            tap=tap,
            open_timeout=open_timeout,
        )
    except HandshakeError as exc:
        hint = ""
        if exc.status in (401, 403):
            hint = f" (check --app-server-token or ${TOKEN_ENV})"
        raise ConnectError(one_line(str(exc)) + hint) from exc
    except ConnectError as exc:
        raise ConnectError(one_line(str(exc))) from exc


async def spawn_app_server(
    args: argparse.Namespace,
    *,
    on_notification: OnNotification,
    tap: Tap,
    announce: Callable[[str], None],
) -> tuple[Client, Emulator | None]:
    """``--app-server stdio``: a client of a child ``realtalk app-server``, and the
    emulator started for it when the run is offline (the caller closes both)."""
    _, offline = resolve_cli_settings(args)
    env = dict(os.environ)
    if args.base_url:
        env["OPENAI_BASE_URL"] = args.base_url
    if args.ws_base_url:
        env["REALTALK_WS_BASE_URL"] = args.ws_base_url
    if args.connect_timeout:
        env["REALTALK_CONNECT_TIMEOUT_S"] = str(args.connect_timeout)
    emulator = None
    if offline:
        emulator = Emulator(EmulatorOptions(audio_realtime=True))
        base = await emulator.start()
        announce(offline_notice(base))
        env.update(OPENAI_BASE_URL=base, OPENAI_API_KEY=OFFLINE_API_KEY)
        env.pop("REALTALK_WS_BASE_URL", None)
    command = default_server_command()
    if args.config:
        command += ["--config", args.config]
    if args.verbose:
        command.append("-v")
    try:
        client = await Client.spawn(command, env=env, on_notification=on_notification, tap=tap)
    except BaseException:
        if emulator is not None:
            await emulator.aclose()
        raise
    return client, emulator

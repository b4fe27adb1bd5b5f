"""Offline or real API: the one rule every command follows, and the embedded emulator.

Without ``OPENAI_API_KEY`` and without a base URL (flag, ``OPENAI_BASE_URL``, config
file or ``REALTALK_WS_BASE_URL``) a command runs offline: it starts the emulator in-process on
loopback, says so in one line, and points its settings at it. With a base URL but no
key, the real path cannot authenticate: :func:`require_api_key` says which variable to
set.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import msgspec

from realtalk._config import DEFAULT_API_BASE_URL, Settings
from realtalk._errors import ConfigError

if TYPE_CHECKING:  # the emulator (aiohttp, ...) is imported only when it runs
    from realtalk.emulator import EmulatorOptions

__all__ = [
    "OFFLINE_API_KEY",
    "embedded_emulator",
    "offline_notice",
    "require_api_key",
    "runs_offline",
]

OFFLINE_API_KEY = "offline-emulator-key"
"""The key sent to the embedded emulator (it checks none; never a real key)."""


def runs_offline(
    settings: Settings, *, base_url_flag: str | None, environ: Mapping[str, str] | None = None
) -> bool:
    """True without an API key and without any base URL: use the embedded emulator.

    A base URL counts as given from the flag, ``OPENAI_BASE_URL``, the config file (any
    value but the default) or ``REALTALK_WS_BASE_URL``.
    """
    env = os.environ if environ is None else environ
    base_given = bool(
        base_url_flag
        or env.get("OPENAI_BASE_URL")
        or settings.base_url.rstrip("/") != DEFAULT_API_BASE_URL
    )
    return settings.api_key is None and not base_given and not settings.realtime_ws_base_url


def offline_notice(base_url: str) -> str:
    """The line a command shows when it starts the embedded emulator."""
    return f"no API key or base URL: using the offline emulator at {base_url}"


def require_api_key(settings: Settings) -> None:
    """On the real path, refuse to start without a key, naming the variable to set.

    Raises:
        ConfigError: ``settings.api_key`` is not set.
    """
    if settings.api_key:
        return
    raise ConfigError(
        f"OPENAI_API_KEY is not set, but a base URL is ({settings.ws_base_url}): set "
        "OPENAI_API_KEY to use that server, or unset OPENAI_BASE_URL (and "
        "REALTALK_WS_BASE_URL) to run offline against the built-in emulator"
    )


@asynccontextmanager
async def embedded_emulator(
    settings: Settings,
    *,
    announce: Callable[[str], None],
    options: EmulatorOptions | None = None,
) -> AsyncIterator[Settings]:
    """Run the emulator on loopback; yields ``settings`` pointed at it.

    ``announce`` gets the one line that says so (:func:`offline_notice`).
    """
    from realtalk.emulator import Emulator, EmulatorOptions

    emulator = Emulator(options or EmulatorOptions(audio_realtime=True))
    try:
        base = await emulator.start()
        announce(offline_notice(base))
        yield msgspec.structs.replace(
            settings, base_url=base, realtime_ws_base_url=None, api_key=OFFLINE_API_KEY
        )
    finally:
        await emulator.aclose()

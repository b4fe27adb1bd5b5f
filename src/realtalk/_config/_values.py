"""Settings values from the environment and the file, checked: numbers in range, URLs usable.

Every failure is a :class:`~realtalk.ConfigError` naming where the value came from (the
environment variable, or the config file and its key) and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from realtalk._errors import ConfigError
from realtalk.protocol import Mode, OutputModality, Version

__all__ = [
    "LIMITS",
    "check_base_url",
    "check_range",
    "enum_env",
    "env_text",
    "float_env",
    "int_env",
    "number_setting",
    "url_setting",
]

LIMITS: dict[str, tuple[float, float]] = {
    # Settings field -> inclusive range. 0 retries means one attempt; 0 ms, no backoff.
    # The caps keep a sideband join bounded: 10 retries from 10 s double past a day.
    "sideband_max_retries": (0, 10),
    "sideband_retry_base_ms": (0, 10_000),
    # A lost realtime session is re-opened with this many attempts (0: the conversation
    # ends instead); the first attempt is immediate, then the backoff doubles.
    "reconnect_max_retries": (0, 20),
    "reconnect_retry_base_ms": (0, 10_000),
    # Renew the session this long after it opened (at a turn boundary), before the
    # server's 60-minute cap ends it; 0 never renews (the cap then ends it: reconnect).
    "rotate_after_s": (0, 7 * 24 * 3600.0),
    "agent_timeout_s": (0.001, 7 * 24 * 3600.0),
    "connect_timeout_s": (0.001, 3600.0),
}
"""The numeric settings' ranges; a value outside is a ConfigError naming its key."""


def env_text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None


_E = TypeVar("_E", Version, Mode, OutputModality)


def enum_env(env: Mapping[str, str], name: str, kind: type[_E]) -> _E | None:
    value = env_text(env, name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in kind)
        raise ConfigError(
            f"environment variable {name}={value!r}: expected one of {allowed}"
        ) from exc


def int_env(env: Mapping[str, str], name: str) -> int | None:
    value = env_text(env, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r}: expected an integer") from exc


def float_env(env: Mapping[str, str], name: str) -> float | None:
    value = env_text(env, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r}: expected a number") from exc


def check_range(value: float, low: float, high: float, source: str) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{source}: {value!r} is out of range; expected {low:g} to {high:g}")


def number_setting(
    field: str,
    env_value: float | None,
    env_name: str | None,
    file_value: float | None,
    file_key: str,
) -> dict[str, float]:
    """``{field: value}`` from the environment, else the file; ``{}`` keeps the default.

    Zero is a value like any other (never "unset"); a value out of range is a
    ConfigError naming where it came from.
    """
    low, high = LIMITS[field]
    if env_value is not None:
        check_range(env_value, low, high, f"environment variable {env_name}")
        return {field: env_value}
    if file_value is not None:
        check_range(file_value, low, high, file_key)
        return {field: file_value}
    return {}


_URL_SCHEMES = ("http", "https", "ws", "wss")


def check_base_url(value: str, source: str) -> str:
    """``value`` if it is an http(s)/ws(s) URL with a host.

    Raises:
        ConfigError: Anything else, naming ``source`` (where the value came from).
    """
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"{source} {value!r} is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in _URL_SCHEMES or not parts.hostname:
        raise ConfigError(
            f"{source} {value!r} is not a usable base URL: expected "
            "http(s)://HOST[:PORT]/v1 (or ws(s)://...), e.g. https://api.openai.com/v1"
        )
    try:
        parts.hostname.encode("idna")
    except UnicodeError as exc:  # e.g. an empty label: "api..openai.com"
        raise ConfigError(
            f"{source} {value!r} is not a usable base URL: invalid host name ({exc})"
        ) from exc
    return value


def url_setting(
    env: Mapping[str, str], env_name: str, file_value: str | None, file_key: str
) -> str | None:
    value = env_text(env, env_name)
    if value is not None:
        return check_base_url(value, f"environment variable {env_name}")
    if file_value is not None:
        return check_base_url(file_value, file_key)
    return None

"""Configuration: a TOML file plus environment variables, resolved into ``Settings``.

Precedence (highest first): command-line flags (applied by the CLI), ``REALTALK_*``
environment variables, the config file, built-in defaults. The API key comes only
from the environment (``OPENAI_API_KEY``), never from a file we might print.

The agent's safety settings live under ``[agent]``: ``sandbox`` (``read-only``,
``workspace-write``, ``danger-full-access``), ``approval`` (``never``,
``on-request``, ``untrusted``) and ``env_allow`` (names or ``*`` patterns of
secret-looking variables commands may still see). Path rules need the table
form ``[agent.sandbox]`` with ``mode``, ``writable``, ``read_only``, ``deny`` and
``network`` (TOML cannot hold ``sandbox = "..."`` and that table at once).

File location: ``--config PATH``, else ``$XDG_CONFIG_HOME/realtalk/config.toml``
(``~/.config/realtalk/config.toml``). A missing default file is fine; a missing
explicit file, bad TOML, an unknown key or a wrong type is a :class:`ConfigError`
naming the file, the key and the expected type.
"""

from __future__ import annotations

import math
import os
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import msgspec

from realtalk._errors import ConfigError
from realtalk._secrets import register_secret
from realtalk.protocol import Mode, OutputModality, Version, check_api_key

__all__ = [
    "DEFAULT_API_BASE_URL",
    "Settings",
    "check_base_url",
    "default_config_path",
    "default_state_dir",
    "load_settings",
]

DEFAULT_API_BASE_URL = "https://api.openai.com/v1"
DEFAULT_REALTIME_MODEL = "gpt-realtime-1.5"
DEFAULT_AGENT_MODEL = "gpt-5-codex"

Transport = Literal["webrtc", "websocket"]

_LIMITS: dict[str, tuple[float, float]] = {
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
}
"""The numeric settings' ranges; a value outside is a ConfigError naming its key."""


class _RealtimeFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    version: Version | None = None
    mode: Mode | None = None
    voice: str | None = None
    model: str | None = None
    ws_base_url: str | None = None
    backend_prompt: str | None = None
    startup_context: str | None = None
    output_modality: OutputModality | None = None
    transport: Transport | None = None
    sideband_max_retries: int | None = None
    sideband_retry_base_ms: int | None = None
    reconnect_max_retries: int | None = None
    reconnect_retry_base_ms: int | None = None
    rotate_after_s: float | None = None


SandboxName = Literal["read-only", "workspace-write", "danger-full-access"]
ApprovalName = Literal["never", "on-request", "untrusted"]


class _SandboxFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    mode: SandboxName | None = None
    writable: list[str] | None = None
    read_only: list[str] | None = None
    deny: list[str] | None = None
    network: bool | None = None


class _AgentFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    command: list[str] | None = None
    input: Literal["arg", "stdin"] | None = None
    timeout_s: float | None = None
    model: str | None = None
    enable_shell: bool | None = None
    workspace: str | None = None
    # ``sandbox = "read-only"``, or the table ``[agent.sandbox]`` (TOML cannot have both).
    sandbox: SandboxName | _SandboxFile | None = None
    approval: ApprovalName | None = None
    env_allow: list[str] | None = None


class _ConfigFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    base_url: str | None = None
    state_dir: str | None = None
    realtime: _RealtimeFile = msgspec.field(default_factory=_RealtimeFile)
    agent: _AgentFile = msgspec.field(default_factory=_AgentFile)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Resolved settings. ``repr`` never shows the API key."""

    api_key: str | None = None
    base_url: str = DEFAULT_API_BASE_URL
    realtime_ws_base_url: str | None = None
    version: Version = Version.V2
    mode: Mode = Mode.CONVERSATIONAL
    voice: str | None = None
    model: str = DEFAULT_REALTIME_MODEL
    backend_prompt: str | None = None
    startup_context: str | None = None
    output_modality: OutputModality = OutputModality.AUDIO
    transport: Transport = "webrtc"
    push_to_talk: bool = False
    """The person says when a spoken turn ends (``talk --push-to-talk``): the session
    has no server VAD, the client commits the input audio and asks for the answer."""
    sideband_max_retries: int = 4
    sideband_retry_base_ms: int = 200
    reconnect_max_retries: int = 6
    reconnect_retry_base_ms: int = 250
    rotate_after_s: float = 3300.0
    agent_command: tuple[str, ...] | None = None
    agent_input: Literal["arg", "stdin"] = "arg"
    agent_timeout_s: float = 600.0
    agent_model: str = DEFAULT_AGENT_MODEL
    agent_enable_shell: bool = True
    workspace: str | None = None
    agent_sandbox: SandboxName = "workspace-write"
    agent_approval: ApprovalName = "on-request"
    agent_env_allow: tuple[str, ...] = ()
    sandbox_writable: tuple[str, ...] = ()
    sandbox_read_only: tuple[str, ...] = ()
    sandbox_deny: tuple[str, ...] = ()
    sandbox_network: bool = False
    state_dir: str | None = None
    """Where the app-server stores threads (None: :func:`default_state_dir`)."""
    config_path: str | None = None

    def __repr__(self) -> str:
        shown = msgspec.structs.asdict(self)
        shown["api_key"] = "***" if self.api_key else None
        return f"Settings({shown})"

    __str__ = __repr__

    def __post_init__(self) -> None:
        for name, (low, high) in _LIMITS.items():
            _check_range(getattr(self, name), low, high, name)

    @property
    def ws_base_url(self) -> str:
        """Base URL of the realtime WebSocket (override or the API base)."""
        return self.realtime_ws_base_url or self.base_url


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "realtalk" / "config.toml"


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/realtalk`` (``~/.local/state/realtalk``)."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "realtalk"


def _read_file(path: Path, *, explicit: bool) -> _ConfigFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        if not explicit:
            return _ConfigFile()
        raise ConfigError(f"config file {path} does not exist; check --config") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    try:
        return msgspec.convert(data, _ConfigFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config file {path}: {_describe_validation(exc)}") from exc


def _describe_validation(exc: msgspec.ValidationError) -> str:
    # msgspec says e.g. "Expected `str`, got `int` - at `$.realtime.voice`";
    # rephrase it as "key realtime.voice: expected `str`, got `int`".
    text = str(exc)
    if " - at `$." in text:
        message, _, where = text.rpartition(" - at `$.")
        key = where.rstrip("`")
        return f"key {key}: {message[0].lower()}{message[1:]}"
    if text.startswith("Object contains unknown field"):
        return f"unknown key: {text.split('`')[1] if '`' in text else text}"
    return text


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None


_E = TypeVar("_E", Version, Mode, OutputModality)


def _enum_env(env: Mapping[str, str], name: str, kind: type[_E]) -> _E | None:
    value = _env(env, name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError as exc:
        allowed = ", ".join(m.value for m in kind)
        raise ConfigError(
            f"environment variable {name}={value!r}: expected one of {allowed}"
        ) from exc


def _int_env(env: Mapping[str, str], name: str) -> int | None:
    value = _env(env, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r}: expected an integer") from exc


def _float_env(env: Mapping[str, str], name: str) -> float | None:
    value = _env(env, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={value!r}: expected a number") from exc


def _check_range(value: float, low: float, high: float, source: str) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{source}: {value!r} is out of range; expected {low:g} to {high:g}")


def _number_setting(
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
    low, high = _LIMITS[field]
    if env_value is not None:
        _check_range(env_value, low, high, f"environment variable {env_name}")
        return {field: env_value}
    if file_value is not None:
        _check_range(file_value, low, high, file_key)
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


def _url_setting(
    env: Mapping[str, str], env_name: str, file_value: str | None, file_key: str
) -> str | None:
    value = _env(env, env_name)
    if value is not None:
        return check_base_url(value, f"environment variable {env_name}")
    if file_value is not None:
        return check_base_url(file_value, file_key)
    return None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from the config file and the environment."""
    env = os.environ if environ is None else environ
    explicit = config_path is not None
    path = Path(config_path) if config_path is not None else default_config_path(env)
    file = _read_file(path, explicit=explicit)
    rt, agent = file.realtime, file.agent

    transport = _env(env, "REALTALK_TRANSPORT") or rt.transport or "webrtc"
    if transport not in ("webrtc", "websocket"):
        raise ConfigError(
            f"environment variable REALTALK_TRANSPORT={transport!r}: expected webrtc or websocket"
        )
    agent_cmd_env = _env(env, "REALTALK_AGENT_CMD")
    agent_command = shlex.split(agent_cmd_env) if agent_cmd_env else agent.command
    agent_input = _env(env, "REALTALK_AGENT_INPUT") or agent.input or "arg"
    if agent_input not in ("arg", "stdin"):
        raise ConfigError(
            f"environment variable REALTALK_AGENT_INPUT={agent_input!r}: expected arg or stdin"
        )

    def pick_text(env_name: str, file_value: str | None) -> str | None:
        # Prompt overrides may legitimately be "" (disables the startup context),
        # so presence, not truthiness, decides for these.
        if env_name in env:
            return env[env_name]
        return file_value

    api_key = _env(env, "OPENAI_API_KEY")
    if api_key is not None:
        check_api_key(api_key)
    # From now on these values are scrubbed from every message and log line.
    register_secret(api_key)
    register_secret(_env(env, "REALTALK_APP_SERVER_TOKEN"))
    box = agent.sandbox if isinstance(agent.sandbox, _SandboxFile) else _SandboxFile()
    sandbox_mode = agent.sandbox if isinstance(agent.sandbox, str) else box.mode
    in_file = f"config file {path}: "
    numbers = {
        **_number_setting(
            "sideband_max_retries",
            _int_env(env, "REALTALK_SIDEBAND_MAX_RETRIES"),
            "REALTALK_SIDEBAND_MAX_RETRIES",
            rt.sideband_max_retries,
            in_file + "realtime.sideband_max_retries",
        ),
        **_number_setting(
            "sideband_retry_base_ms",
            None,
            None,
            rt.sideband_retry_base_ms,
            in_file + "realtime.sideband_retry_base_ms",
        ),
        **_number_setting(
            "agent_timeout_s", None, None, agent.timeout_s, in_file + "agent.timeout_s"
        ),
        **_number_setting(
            "reconnect_max_retries",
            _int_env(env, "REALTALK_RECONNECT_MAX_RETRIES"),
            "REALTALK_RECONNECT_MAX_RETRIES",
            rt.reconnect_max_retries,
            in_file + "realtime.reconnect_max_retries",
        ),
        **_number_setting(
            "reconnect_retry_base_ms",
            None,
            None,
            rt.reconnect_retry_base_ms,
            in_file + "realtime.reconnect_retry_base_ms",
        ),
        **_number_setting(
            "rotate_after_s",
            _float_env(env, "REALTALK_ROTATE_AFTER_S"),
            "REALTALK_ROTATE_AFTER_S",
            rt.rotate_after_s,
            in_file + "realtime.rotate_after_s",
        ),
    }
    settings = Settings(
        api_key=api_key,
        base_url=_url_setting(
            env, "OPENAI_BASE_URL", file.base_url, f"config file {path}: base_url"
        )
        or DEFAULT_API_BASE_URL,
        realtime_ws_base_url=_url_setting(
            env, "REALTALK_WS_BASE_URL", rt.ws_base_url, f"config file {path}: realtime.ws_base_url"
        ),
        version=_enum_env(env, "REALTALK_VERSION", Version) or rt.version or Version.V2,
        mode=_enum_env(env, "REALTALK_MODE", Mode) or rt.mode or Mode.CONVERSATIONAL,
        voice=_env(env, "REALTALK_VOICE") or rt.voice,
        model=_env(env, "REALTALK_MODEL") or rt.model or DEFAULT_REALTIME_MODEL,
        backend_prompt=pick_text("REALTALK_BACKEND_PROMPT", rt.backend_prompt),
        startup_context=pick_text("REALTALK_STARTUP_CONTEXT", rt.startup_context),
        output_modality=_enum_env(env, "REALTALK_OUTPUT_MODALITY", OutputModality)
        or rt.output_modality
        or OutputModality.AUDIO,
        transport="websocket" if transport == "websocket" else "webrtc",
        agent_command=tuple(agent_command) if agent_command else None,
        agent_input="stdin" if agent_input == "stdin" else "arg",
        agent_model=_env(env, "REALTALK_AGENT_MODEL") or agent.model or DEFAULT_AGENT_MODEL,
        agent_enable_shell=agent.enable_shell if agent.enable_shell is not None else True,
        workspace=agent.workspace,
        agent_sandbox=sandbox_mode or "workspace-write",
        agent_approval=agent.approval or "on-request",
        agent_env_allow=tuple(agent.env_allow or ()),
        sandbox_writable=tuple(box.writable or ()),
        sandbox_read_only=tuple(box.read_only or ()),
        sandbox_deny=tuple(box.deny or ()),
        sandbox_network=bool(box.network),
        state_dir=str(
            Path(
                _env(env, "REALTALK_STATE_DIR") or file.state_dir or default_state_dir(env)
            ).expanduser()
        ),
        config_path=str(path),
    )
    return msgspec.structs.replace(settings, **numbers)

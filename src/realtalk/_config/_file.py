"""The config file: where it is, its schema (unknown keys refused), and reading it."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

from realtalk._config._settings import ApprovalName, SandboxName, Transport
from realtalk._errors import ConfigError
from realtalk.protocol import Mode, OutputModality, Version

__all__ = [
    "AgentFile",
    "ConfigFile",
    "RealtimeFile",
    "SandboxFile",
    "default_config_path",
    "default_state_dir",
    "read_file",
]


class RealtimeFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
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


class SandboxFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    mode: SandboxName | None = None
    writable: list[str] | None = None
    read_only: list[str] | None = None
    deny: list[str] | None = None
    network: bool | None = None


class AgentFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    command: list[str] | None = None
    input: Literal["arg", "stdin"] | None = None
    timeout_s: float | None = None
    model: str | None = None
    enable_shell: bool | None = None
    workspace: str | None = None
    # ``sandbox = "read-only"``, or the table ``[agent.sandbox]`` (TOML cannot have both).
    sandbox: SandboxName | SandboxFile | None = None
    approval: ApprovalName | None = None
    env_allow: list[str] | None = None


class ConfigFile(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    base_url: str | None = None
    connect_timeout_s: float | None = None
    state_dir: str | None = None
    realtime: RealtimeFile = msgspec.field(default_factory=RealtimeFile)
    agent: AgentFile = msgspec.field(default_factory=AgentFile)


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "realtalk" / "config.toml"


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/realtalk`` (``~/.local/state/realtalk``)."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "realtalk"


def read_file(path: Path, *, explicit: bool) -> ConfigFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        if not explicit:
            return ConfigFile()
        raise ConfigError(f"config file {path} does not exist; check --config") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    try:
        return msgspec.convert(data, ConfigFile)
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

"""``load_settings``: the config file and the environment, resolved into ``Settings``."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

import msgspec

from realtalk._config._file import SandboxFile, default_config_path, default_state_dir, read_file
from realtalk._config._settings import (
    DEFAULT_AGENT_MODEL,
    DEFAULT_API_BASE_URL,
    DEFAULT_REALTIME_MODEL,
    Settings,
)
from realtalk._config._values import (
    enum_env,
    env_text,
    float_env,
    int_env,
    number_setting,
    url_setting,
)
from realtalk._errors import ConfigError
from realtalk._secrets import register_secret
from realtalk.protocol import Mode, OutputModality, Version, check_api_key

__all__ = ["load_settings"]


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from the config file and the environment."""
    env = os.environ if environ is None else environ
    explicit = config_path is not None
    path = Path(config_path) if config_path is not None else default_config_path(env)
    file = read_file(path, explicit=explicit)
    rt, agent = file.realtime, file.agent

    transport = env_text(env, "REALTALK_TRANSPORT") or rt.transport or "webrtc"
    if transport not in ("webrtc", "websocket"):
        raise ConfigError(
            f"environment variable REALTALK_TRANSPORT={transport!r}: expected webrtc or websocket"
        )
    agent_cmd_env = env_text(env, "REALTALK_AGENT_CMD")
    agent_command = shlex.split(agent_cmd_env) if agent_cmd_env else agent.command
    agent_input = env_text(env, "REALTALK_AGENT_INPUT") or agent.input or "arg"
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

    api_key = env_text(env, "OPENAI_API_KEY")
    if api_key is not None:
        check_api_key(api_key)
    # From now on these values are scrubbed from every message and log line.
    register_secret(api_key)
    register_secret(env_text(env, "REALTALK_APP_SERVER_TOKEN"))
    box = agent.sandbox if isinstance(agent.sandbox, SandboxFile) else SandboxFile()
    sandbox_mode = agent.sandbox if isinstance(agent.sandbox, str) else box.mode
    in_file = f"config file {path}: "
    numbers = {
        **number_setting(
            "sideband_max_retries",
            int_env(env, "REALTALK_SIDEBAND_MAX_RETRIES"),
            "REALTALK_SIDEBAND_MAX_RETRIES",
            rt.sideband_max_retries,
            in_file + "realtime.sideband_max_retries",
        ),
        **number_setting(
            "sideband_retry_base_ms",
            None,
            None,
            rt.sideband_retry_base_ms,
            in_file + "realtime.sideband_retry_base_ms",
        ),
        **number_setting(
            "agent_timeout_s", None, None, agent.timeout_s, in_file + "agent.timeout_s"
        ),
        **number_setting(
            "connect_timeout_s",
            float_env(env, "REALTALK_CONNECT_TIMEOUT_S"),
            "REALTALK_CONNECT_TIMEOUT_S",
            file.connect_timeout_s,
            in_file + "connect_timeout_s",
        ),
        **number_setting(
            "reconnect_max_retries",
            int_env(env, "REALTALK_RECONNECT_MAX_RETRIES"),
            "REALTALK_RECONNECT_MAX_RETRIES",
            rt.reconnect_max_retries,
            in_file + "realtime.reconnect_max_retries",
        ),
        **number_setting(
            "reconnect_retry_base_ms",
            None,
            None,
            rt.reconnect_retry_base_ms,
            in_file + "realtime.reconnect_retry_base_ms",
        ),
        **number_setting(
            "rotate_after_s",
            float_env(env, "REALTALK_ROTATE_AFTER_S"),
            "REALTALK_ROTATE_AFTER_S",
            rt.rotate_after_s,
            in_file + "realtime.rotate_after_s",
        ),
    }
    settings = Settings(
        api_key=api_key,
        base_url=url_setting(env, "OPENAI_BASE_URL", file.base_url, f"config file {path}: base_url")
        or DEFAULT_API_BASE_URL,
        realtime_ws_base_url=url_setting(
            env, "REALTALK_WS_BASE_URL", rt.ws_base_url, f"config file {path}: realtime.ws_base_url"
        ),
        version=enum_env(env, "REALTALK_VERSION", Version) or rt.version or Version.V2,
        mode=enum_env(env, "REALTALK_MODE", Mode) or rt.mode or Mode.CONVERSATIONAL,
        voice=env_text(env, "REALTALK_VOICE") or rt.voice,
        model=env_text(env, "REALTALK_MODEL") or rt.model or DEFAULT_REALTIME_MODEL,
        backend_prompt=pick_text("REALTALK_BACKEND_PROMPT", rt.backend_prompt),
        startup_context=pick_text("REALTALK_STARTUP_CONTEXT", rt.startup_context),
        output_modality=enum_env(env, "REALTALK_OUTPUT_MODALITY", OutputModality)
        or rt.output_modality
        or OutputModality.AUDIO,
        transport="websocket" if transport == "websocket" else "webrtc",
        agent_command=tuple(agent_command) if agent_command else None,
        agent_input="stdin" if agent_input == "stdin" else "arg",
        agent_model=env_text(env, "REALTALK_AGENT_MODEL") or agent.model or DEFAULT_AGENT_MODEL,
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
                env_text(env, "REALTALK_STATE_DIR") or file.state_dir or default_state_dir(env)
            ).expanduser()
        ),
        config_path=str(path),
    )
    return msgspec.structs.replace(settings, **numbers)

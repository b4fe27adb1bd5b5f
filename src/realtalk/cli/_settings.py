"""The settings a conversation command runs with: config file and env, then its options."""

from __future__ import annotations

import argparse
import shlex

import msgspec

from realtalk._config import Settings, check_base_url, load_settings
from realtalk._errors import ConfigError
from realtalk.cli._offline import runs_offline
from realtalk.protocol import Mode, OutputModality, Version

__all__ = ["resolve_cli_settings"]

_MAX_RECONNECT_RETRIES = 20


def resolve_cli_settings(args: argparse.Namespace) -> tuple[Settings, bool]:
    """Settings with command-line overrides applied, and whether to run offline."""
    settings = load_settings(getattr(args, "config", None))
    overrides: dict[str, object] = {}
    if getattr(args, "base_url", None):
        overrides["base_url"] = check_base_url(args.base_url, "--base-url")
    if getattr(args, "ws_base_url", None):
        overrides["realtime_ws_base_url"] = check_base_url(args.ws_base_url, "--ws-base-url")
    if getattr(args, "version", None):
        overrides["version"] = Version(args.version)
    if getattr(args, "mode", None):
        overrides["mode"] = Mode(args.mode)
    if getattr(args, "voice", None):
        overrides["voice"] = args.voice
    if getattr(args, "model", None):
        overrides["model"] = args.model
    if getattr(args, "output_modality", None):
        overrides["output_modality"] = OutputModality(args.output_modality)
    if getattr(args, "transport", None):
        overrides["transport"] = args.transport
    if getattr(args, "rotate_after_s", None) is not None:
        overrides["rotate_after_s"] = args.rotate_after_s
    if getattr(args, "reconnect_retries", None) is not None:
        if args.reconnect_retries > _MAX_RECONNECT_RETRIES:
            raise ConfigError(
                f"--reconnect-retries {args.reconnect_retries}: expected 0 to "
                f"{_MAX_RECONNECT_RETRIES}"
            )
        overrides["reconnect_max_retries"] = args.reconnect_retries
    if getattr(args, "push_to_talk", False):
        overrides["push_to_talk"] = True
    if getattr(args, "agent_cmd", None):
        argv = shlex.split(args.agent_cmd)
        if not argv:
            raise ConfigError("--agent-cmd is empty")
        overrides["agent_command"] = tuple(argv)
    settings = msgspec.structs.replace(settings, **overrides)
    return settings, runs_offline(settings, base_url_flag=getattr(args, "base_url", None))

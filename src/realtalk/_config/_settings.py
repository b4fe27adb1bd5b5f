"""The resolved settings every command runs with (``repr`` never shows the API key)."""

from __future__ import annotations

from typing import Literal

import msgspec

from realtalk._config._values import LIMITS, check_range
from realtalk.protocol import Mode, OutputModality, Version

__all__ = [
    "DEFAULT_AGENT_MODEL",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_REALTIME_MODEL",
    "ApprovalName",
    "SandboxName",
    "Settings",
    "Transport",
]

DEFAULT_API_BASE_URL = "https://api.openai.com/v1"
DEFAULT_REALTIME_MODEL = "gpt-realtime-1.5"
DEFAULT_AGENT_MODEL = "gpt-5-codex"

Transport = Literal["webrtc", "websocket"]
SandboxName = Literal["read-only", "workspace-write", "danger-full-access"]
ApprovalName = Literal["never", "on-request", "untrusted"]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Resolved settings. ``repr`` never shows the API key."""

    api_key: str | None = None
    base_url: str = DEFAULT_API_BASE_URL
    realtime_ws_base_url: str | None = None
    connect_timeout_s: float = 15.0
    """Longest wait to connect (realtime WebSocket, sideband, Responses) or create a call."""
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
        for name, (low, high) in LIMITS.items():
            check_range(getattr(self, name), low, high, name)

    @property
    def ws_base_url(self) -> str:
        """Base URL of the realtime WebSocket (override or the API base)."""
        return self.realtime_ws_base_url or self.base_url

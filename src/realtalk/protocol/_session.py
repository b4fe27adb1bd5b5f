"""Realtime session configuration, ``session.update`` payloads, voices and prompt rules.

Everything here is pure data shaping: it decides *what* the session looks like on the
wire (reference 2.3 and 3) and validates the user's choices before anything connects
(reference 6.2). The socket never carries ``id`` or ``model`` inside the session; the
WebRTC call body carries ``model`` (see :func:`call_session_json`).
"""

from __future__ import annotations

import copy
from typing import Any, Final

import msgspec

from realtalk._errors import ConfigError
from realtalk.protocol._calls import encode_call_session
from realtalk.protocol._events import Mode, OutputModality, Version

__all__ = [
    "BACKGROUND_AGENT_DESCRIPTION",
    "BACKGROUND_AGENT_TOOL",
    "BACKGROUND_AGENT_TOOL_NAME",
    "CANCEL_AGENT_DESCRIPTION",
    "CANCEL_AGENT_TOOL",
    "CANCEL_AGENT_TOOL_NAME",
    "ANSWER_APPROVAL_DESCRIPTION",
    "ANSWER_APPROVAL_TOOL",
    "ANSWER_APPROVAL_TOOL_NAME",
    "DEFAULT_BACKEND_PROMPT",
    "DEFAULT_REALTIME_MODEL",
    "INPUT_TRANSCRIPTION_MODEL",
    "REALTIME_SAMPLE_RATE",
    "REMAIN_SILENT_DESCRIPTION",
    "REMAIN_SILENT_TOOL",
    "REMAIN_SILENT_TOOL_NAME",
    "TOOL_CHOICE",
    "V1_VOICES",
    "V2_VOICES",
    "SessionConfig",
    "build_instructions",
    "call_session_json",
    "default_voice",
    "resolve_backend_prompt",
    "resolve_voice",
    "session_payload",
    "validate_preflight",
]

DEFAULT_REALTIME_MODEL: Final = "gpt-realtime-1.5"
REALTIME_SAMPLE_RATE: Final = 24000
INPUT_TRANSCRIPTION_MODEL: Final = "gpt-4o-mini-transcribe"
TOOL_CHOICE: Final = "auto"

BACKGROUND_AGENT_TOOL_NAME: Final = "background_agent"
REMAIN_SILENT_TOOL_NAME: Final = "remain_silent"
CANCEL_AGENT_TOOL_NAME: Final = "cancel_background_agent"
"""realtalk's own tool (not in the reference): the user stops the running agent task."""
ANSWER_APPROVAL_TOOL_NAME: Final = "answer_approval"
"""realtalk's own tool (not in the reference): the user's yes/no to the agent's question."""

# Wire payload: compared byte for byte by the reference's WebRTC test. Do not reflow.
BACKGROUND_AGENT_DESCRIPTION: Final = (
    "Send a user request to the background agent. Use this as the default action. "
    "Do not rephrase the user's ask or rewrite it in your own words; pass along the "
    "user's own words. If the background agent is idle, this starts a new task and "
    "returns the final result to the user. If the background agent is already working "
    "on a task, this sends the request as guidance to steer that previous task. If the "
    "user asks to do something next, later, after this, or once current work finishes, "
    "call this tool so the work is actually queued instead of merely promising to do it later."
)
REMAIN_SILENT_DESCRIPTION: Final = (
    "Call this when the best response is to say nothing. Use it instead of speaking after "
    "hidden system/control messages, after background agent updates in silent modes, or "
    "whenever acknowledging aloud would be distracting. This tool has no user-visible effect."
)

# Ours, not the reference's: declared after the reference's two tools.
CANCEL_AGENT_DESCRIPTION: Final = (
    "Cancel the task the background agent is working on. Call this when the user asks to "
    "stop, cancel or drop the running background task (for example: stop, cancel that, "
    "never mind). The task is stopped at once and its result is discarded; then tell the "
    "user it was cancelled. Do not call it when no background task is running, and do not "
    "use it to change a task: use background_agent to steer it instead."
)

ANSWER_APPROVAL_DESCRIPTION: Final = (
    "Pass the user's answer to the background agent's approval question. When a [BACKEND] "
    "message says the agent asks for approval, ask the user that question; when they "
    "answer, call this with approved true for yes (yes, sure, go ahead) or false for no "
    "(no, don't), and request_id from that message. Only call it with the user's own "
    "answer, never on your own; if the answer is unclear, ask again."
)

BACKGROUND_AGENT_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": BACKGROUND_AGENT_TOOL_NAME,
    "description": BACKGROUND_AGENT_DESCRIPTION,
    "parameters": {
        "type": "object",
        "properties": {
            "prompt": {
                "type": "string",
                "description": "The user request to delegate to the background agent.",
            }
        },
        "required": ["prompt"],
        "additionalProperties": False,
    },
}
REMAIN_SILENT_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": REMAIN_SILENT_TOOL_NAME,
    "description": REMAIN_SILENT_DESCRIPTION,
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
}

CANCEL_AGENT_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": CANCEL_AGENT_TOOL_NAME,
    "description": CANCEL_AGENT_DESCRIPTION,
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
}

ANSWER_APPROVAL_TOOL: Final[dict[str, Any]] = {
    "type": "function",
    "name": ANSWER_APPROVAL_TOOL_NAME,
    "description": ANSWER_APPROVAL_DESCRIPTION,
    "parameters": {
        "type": "object",
        "properties": {
            "approved": {
                "type": "boolean",
                "description": "true: the user said yes; false: the user said no.",
            },
            "request_id": {
                "type": "string",
                "description": "The request_id of the question being answered.",
            },
        },
        "required": ["approved"],
        "additionalProperties": False,
    },
}

V1_VOICES: Final = ("juniper", "maple", "spruce", "ember", "vale", "breeze", "arbor", "sol", "cove")
V2_VOICES: Final = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
_DEFAULT_VOICES: Final = {Version.V1: "cove", Version.V2: "marin"}

DEFAULT_BACKEND_PROMPT: Final = """\
You are the voice of a coding assistant. A background agent does the real work: it reads \
and edits code, runs commands and answers technical questions. You talk with the user and \
pass their requests to that agent.

How to talk:
- Be brief. One or two short sentences per turn is usually right.
- Speak naturally, as in a conversation. No lists, markdown, code or file paths read out \
character by character.
- If you did not catch what the user said, ask them to repeat it.

How to work:
- Send any real task or question about code to the background agent with the \
background_agent tool. Pass the user's own words; do not rephrase or summarise them.
- If the agent is already busy, a new request steers the current task; say so briefly.
- If the user asks to stop or cancel what the agent is doing, call cancel_background_agent.
- When the agent asks for approval, ask the user its question in one sentence and pass \
their yes or no with answer_approval. Never answer it yourself.
- Never pretend to have done work yourself, and never promise work for later without \
calling background_agent so it is actually queued.
- Messages starting with [BACKEND] are updates and results from the agent. Tell the user \
what matters in a sentence or two, in plain spoken language.
- Messages starting with [USER] are typed by the user; treat them like speech.
- When nothing needs to be said (hidden control messages, updates the user does not need \
to hear), call remain_silent instead of speaking."""


class SessionConfig(msgspec.Struct, frozen=True):
    """What one realtime session should look like.

    Attributes:
        instructions: The full instructions (prompt plus startup context).
        model: Realtime model name; sent in the URL (websocket) or call body (WebRTC).
        version: Wire protocol version.
        mode: Session mode; v1 treats ``transcription`` as ``conversational``.
        output_modality: ``audio`` or ``text`` (text needs v2).
        voice: Output voice; ``None`` means the version's default.
        session_id: Our session id, sent as the ``x-session-id`` header.
        server_vad: The server detects spoken turns (v2 ``turn_detection``); False for
            push-to-talk, where the client commits the input audio itself.
    """

    instructions: str
    model: str = DEFAULT_REALTIME_MODEL
    version: Version = Version.V2
    mode: Mode = Mode.CONVERSATIONAL
    output_modality: OutputModality = OutputModality.AUDIO
    voice: str | None = None
    session_id: str | None = None
    server_vad: bool = True


def default_voice(version: Version) -> str:
    """Return the default voice of ``version`` (``cove`` for v1, ``marin`` for v2)."""
    return _DEFAULT_VOICES[version]


def _voices(version: Version) -> tuple[str, ...]:
    return V1_VOICES if version is Version.V1 else V2_VOICES


def resolve_voice(version: Version, requested: str | None, configured: str | None) -> str:
    """Pick the voice: start request > configured > version default, and validate it.

    Raises:
        ConfigError: The chosen voice is not one of the version's voices.
    """
    voice = requested or configured or default_voice(version)
    supported = _voices(version)
    if voice not in supported:
        raise ConfigError(
            f"realtime voice `{voice}` is not supported for {version.value}; "
            f"supported voices: {', '.join(supported)}"
        )
    return voice


def validate_preflight(config: SessionConfig) -> None:
    """Reject configurations the server would refuse, before connecting.

    Raises:
        ConfigError: Text output with v1, or a voice the version does not have.
    """
    if config.output_modality is OutputModality.TEXT and config.version is Version.V1:
        raise ConfigError("text realtime output modality requires realtime v2")
    if config.voice is not None:
        resolve_voice(config.version, config.voice, None)
    if not config.server_vad and config.version is Version.V1:
        raise ConfigError("push-to-talk needs realtime v2 (v1 always detects turns itself)")


def resolve_backend_prompt(
    config_override: str | None,
    request_prompt: str | None | msgspec.UnsetType = msgspec.UNSET,
    default_template: str = DEFAULT_BACKEND_PROMPT,
) -> str:
    """Choose the backend prompt (reference 6.2).

    A non-blank config override wins. Otherwise a request prompt string is used as is
    and an explicit ``None`` means "no prompt" (``""``). ``msgspec.UNSET`` (the request
    did not mention a prompt) falls back to ``default_template``.
    """
    if config_override is not None and config_override.strip():
        return config_override
    if request_prompt is None:
        return ""
    if isinstance(request_prompt, str):
        return request_prompt
    return default_template


def build_instructions(prompt: str, startup_context: str) -> str:
    """Join prompt and startup context with a blank line; skip empty parts."""
    return "\n\n".join(part for part in (prompt, startup_context) if part)


def _effective_mode(config: SessionConfig) -> Mode:
    # v1 has no transcription session type: it always runs conversational.
    return Mode.CONVERSATIONAL if config.version is Version.V1 else config.mode


def _audio_format() -> dict[str, Any]:
    return {"type": "audio/pcm", "rate": REALTIME_SAMPLE_RATE}


def _v1_payload(config: SessionConfig) -> dict[str, Any]:
    return {
        "type": "quicksilver",
        "instructions": config.instructions,
        "audio": {
            "input": {"format": _audio_format()},
            "output": {"voice": config.voice or default_voice(Version.V1)},
        },
    }


def _v2_conversational_payload(config: SessionConfig) -> dict[str, Any]:
    return {
        "type": "realtime",
        "instructions": config.instructions,
        "output_modalities": [config.output_modality.value],
        "audio": {
            "input": {
                "format": _audio_format(),
                "noise_reduction": {"type": "near_field"},
                "transcription": {"model": INPUT_TRANSCRIPTION_MODEL},
                "turn_detection": {
                    "type": "server_vad",
                    "interrupt_response": True,
                    "create_response": True,
                    "silence_duration_ms": 500,
                }
                if config.server_vad
                else None,
            },
            "output": {
                "format": _audio_format(),
                "voice": config.voice or default_voice(Version.V2),
            },
        },
        # Deep copies: callers may mutate the payload; the module constants must not change.
        # The reference's two tools, then ours (cancel_background_agent, answer_approval).
        "tools": [
            copy.deepcopy(BACKGROUND_AGENT_TOOL),
            copy.deepcopy(REMAIN_SILENT_TOOL),
            copy.deepcopy(CANCEL_AGENT_TOOL),
            copy.deepcopy(ANSWER_APPROVAL_TOOL),
        ],
        "tool_choice": TOOL_CHOICE,
    }


def _v2_transcription_payload(config: SessionConfig) -> dict[str, Any]:
    del config  # transcription sessions carry no instructions, voice or tools
    return {
        "type": "transcription",
        "audio": {
            "input": {
                "format": _audio_format(),
                "transcription": {"model": INPUT_TRANSCRIPTION_MODEL},
            }
        },
    }


def session_payload(config: SessionConfig) -> dict[str, Any]:
    """Build the ``session`` object of ``session.update`` (no ``id``, no ``model``)."""
    if config.version is Version.V1:
        return _v1_payload(config)
    if _effective_mode(config) is Mode.TRANSCRIPTION:
        return _v2_transcription_payload(config)
    return _v2_conversational_payload(config)


def call_session_json(config: SessionConfig) -> str:
    """Session JSON for WebRTC call creation: the socket session plus ``model``.

    Keys are sorted at every level and the output is compact, matching the body the
    reference sends (reference 3).
    """
    return encode_call_session(session_payload(config), model=config.model)

"""Server-side wire shapes: ids, session objects and event payload builders (pure).

Everything is a plain ``dict`` ready for JSON; the emitter adds ``event_id``. Shapes
follow the GA realtime API (validated in the tests against the ``openai`` package's
pydantic types) plus the v1 ("quicksilver") names from the reference spec.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any, Final, Literal

__all__ = [
    "AUDIO_FORMAT",
    "DEFAULT_MODEL",
    "IdFactory",
    "SessionMode",
    "SessionVersion",
    "apply_session_update",
    "assistant_item",
    "default_session",
    "echo_audio_event",
    "error_event",
    "function_call_item",
    "max_duration_text",
    "merge_session",
    "response_object",
    "turn_detection",
]

SessionVersion = Literal["v1", "v2"]
SessionMode = Literal["conversational", "transcription"]
JsonDict = dict[str, Any]

AUDIO_FORMAT: Final[JsonDict] = {"type": "audio/pcm", "rate": 24000}
DEFAULT_MODEL: Final = "gpt-realtime"


class IdFactory:
    """Ids like ``item_3fa2c1d00007``: a per-session random tag plus a counter."""

    def __init__(self) -> None:
        self._tag = secrets.token_hex(4)
        self._counter = itertools.count(1)

    def next(self, prefix: str) -> str:
        return f"{prefix}_{self._tag}{next(self._counter):04d}"


def _turn_detection() -> JsonDict:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
        "idle_timeout_ms": None,
    }


def default_session(
    *, version: SessionVersion, mode: SessionMode, session_id: str, model: str | None
) -> JsonDict:
    """The session object the server starts with (``session.created``)."""
    if version == "v1":
        return {
            "id": session_id,
            "type": "quicksilver",
            "instructions": "",
            "audio": {"input": {"format": dict(AUDIO_FORMAT)}, "output": {"voice": "cove"}},
        }
    if mode == "transcription":
        return {
            "type": "transcription",
            "id": session_id,
            "object": "realtime.transcription_session",
            "expires_at": int(time.time()) + 3600,
            "audio": {
                "input": {
                    "format": dict(AUDIO_FORMAT),
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                    "noise_reduction": None,
                    "turn_detection": _turn_detection(),
                }
            },
            "include": None,
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model or DEFAULT_MODEL,
        "expires_at": int(time.time()) + 3600,
        "output_modalities": ["audio"],
        "instructions": "",
        "audio": {
            "input": {
                "format": dict(AUDIO_FORMAT),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": _turn_detection(),
            },
            "output": {"format": dict(AUDIO_FORMAT), "voice": "alloy", "speed": 1.0},
        },
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
    }


def merge_session(base: JsonDict, update: JsonDict) -> JsonDict:
    """Deep-merge the client's ``session`` fields over ``base`` (dicts merge, rest replaces)."""
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            merged[key] = merge_session(old, value)
        else:
            merged[key] = value
    return merged


def apply_session_update(
    session: JsonDict, update: Any, *, version: SessionVersion, model: str | None
) -> tuple[JsonDict, SessionMode] | str:
    """The session after a client ``session.update`` and its mode, or an error message.

    v2 ``session.type`` picks the mode; switching type restarts from that type's
    defaults (same id) before the client's fields are merged in. v1 is always
    conversational.
    """
    if not isinstance(update, dict):
        return "Missing required parameter: 'session'."
    mode: SessionMode = "conversational"
    if version == "v2":
        current = "transcription" if session.get("type") == "transcription" else "realtime"
        new_type = update.get("type", current)
        if new_type not in ("realtime", "transcription"):
            return f"Invalid value: '{new_type}'. Supported values are: 'realtime' and 'transcription'."
        mode = "transcription" if new_type == "transcription" else "conversational"
        if new_type != current:
            session = default_session(
                version="v2", mode=mode, session_id=str(session.get("id")), model=model
            )
    fields = {k: v for k, v in update.items() if k not in ("id", "object")}
    return merge_session(session, fields), mode


def turn_detection(session: JsonDict, *, v1: bool) -> JsonDict | None:
    """The active turn detection settings (v1: always server VAD), or None when off."""
    if v1:
        return {}
    audio = session.get("audio")
    audio_in = audio.get("input") if isinstance(audio, dict) else None
    detection = audio_in.get("turn_detection") if isinstance(audio_in, dict) else None
    return detection if isinstance(detection, dict) else None


def echo_audio_event(audio: str, *, v1: bool) -> JsonDict:
    """Echo mode: one output audio delta carrying the appended base64 audio as is."""
    if v1:
        pcm_bytes = len(audio) * 3 // 4 - audio[-2:].count("=")
        return {
            "type": "conversation.output_audio.delta",
            "delta": audio,
            "sample_rate": 24000,
            "channels": 1,
            "samples_per_channel": pcm_bytes // 2,
        }
    return {
        "type": "response.output_audio.delta",
        "response_id": "resp_echo",
        "item_id": "item_echo",
        "output_index": 0,
        "content_index": 0,
        "delta": audio,
    }


def max_duration_text(seconds: float) -> str:
    """The real API's words for its session cap (minutes when they are whole)."""
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        span = f"{minutes} minute" + ("" if minutes == 1 else "s")
    else:
        span = f"{seconds:g} second" + ("" if seconds == 1 else "s")
    return f"Your session hit the maximum duration of {span}."


def error_event(
    message: str,
    *,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    client_event_id: str | None = None,
) -> JsonDict:
    return {
        "type": "error",
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    }


def assistant_item(
    item_id: str,
    *,
    status: str,
    content: list[JsonDict],
) -> JsonDict:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def function_call_item(
    item_id: str, *, call_id: str, name: str, arguments: str, status: str
) -> JsonDict:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "name": name,
        "call_id": call_id,
        "arguments": arguments,
    }


def response_object(
    response_id: str,
    *,
    status: str,
    modalities: list[str],
    voice: str,
    output: list[JsonDict],
    metadata: JsonDict | None,
    status_details: JsonDict | None = None,
    output_tokens: int = 0,
) -> JsonDict:
    usage: JsonDict | None = None
    if status != "in_progress":
        usage = {
            "total_tokens": 10 + output_tokens,
            "input_tokens": 10,
            "output_tokens": output_tokens,
            "input_token_details": {"text_tokens": 10, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {
                "text_tokens": output_tokens,
                "audio_tokens": 0 if modalities == ["text"] else output_tokens,
            },
        }
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": status_details,
        "output": output,
        "conversation_id": "conv_emulator",
        "output_modalities": modalities,
        "max_output_tokens": "inf",
        "audio": {"output": {"format": dict(AUDIO_FORMAT), "voice": voice}},
        "usage": usage,
        "metadata": metadata,
    }

"""Realtime wire codec: server frames to :mod:`._events`, and client message builders.

Server side: :class:`ServerEventParser` decodes a TEXT frame with the version's typed
union (:mod:`._wire`) and maps it to a normalised event. Any failure (bad JSON, not an
object, no/unknown ``type``, bad required field, a number out of range) means "ignore
this frame": we log why at debug level and return ``None``. The reason is worked out on
a second, generic decode, only when debug logging is on, so ignored frames stay cheap in
production.

Nesting depth: a frame whose event would pass server JSON on as is (an item, an error's
details) and that nests deeper than :data:`MAX_JSON_DEPTH`, or any frame too deep for
the decoder's recursion, becomes an :class:`ErrorEvent` with code :data:`FRAME_TOO_DEEP`,
which the conversation core reports and survives. In every other event a deep value
can only sit in a field whose non-scalar values are dropped anyway. So the hot path
(audio and transcript deltas) pays nothing for the check.

Client side: small functions returning the wire messages of reference 2.3, and
:func:`encode` for compact JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from realtalk.protocol._depth import MAX_JSON_DEPTH, too_deep
from realtalk.protocol._events import ErrorEvent, RealtimeEvent, Version
from realtalk.protocol._session import SessionConfig, session_payload
from realtalk.protocol._wire import CARRIES_JSON, DECODERS, KNOWN_TYPES, Wire

__all__ = [
    "BACKEND_PREFIX",
    "BINARY_FRAME_ERROR",
    "FRAME_TOO_DEEP",
    "MAX_JSON_DEPTH",
    "USER_TEXT_PREFIX",
    "ServerEventParser",
    "assistant_text_item",
    "backend_text_item",
    "encode",
    "function_call_output",
    "handoff_append",
    "input_audio_append",
    "item_truncate",
    "prefix_text",
    "response_create",
    "session_update",
    "user_text_item",
]

logger = logging.getLogger(__name__)

BINARY_FRAME_ERROR: Final = "unexpected binary realtime websocket event"
FRAME_TOO_DEEP: Final = "realtalk_frame_too_deep"
"""``ErrorEvent.code`` of a server frame that was refused for its nesting depth."""
_TOO_DEEP_MESSAGE: Final = (
    f"ignored a realtime server event nested more than {MAX_JSON_DEPTH} levels deep"
)
USER_TEXT_PREFIX: Final = "[USER] "
BACKEND_PREFIX: Final = "[BACKEND] "
_EXCERPT_CHARS: Final = 200


class ServerEventParser:
    """Turns realtime server frames of one wire version into normalised events.

    Stateless apart from the version; safe to share. Never raises for any input.
    """

    __slots__ = ("_decode", "_known", "_version")

    def __init__(self, version: Version) -> None:
        self._version = version
        self._decode = DECODERS[version].decode
        self._known = KNOWN_TYPES[version]

    @property
    def version(self) -> Version:
        return self._version

    def parse(self, data: str | bytes) -> RealtimeEvent | None:
        """Parse one TEXT frame; ``None`` means "ignore it and keep reading".

        A frame nested too deep to pass on gives an :class:`ErrorEvent` with code
        :data:`FRAME_TOO_DEEP` instead (see the module docstring).
        """
        try:
            wire = self._decode(data)
        except ValueError as exc:  # msgspec.DecodeError/ValidationError, bad surrogates
            self._log_ignored(data, None, exc)
            return None
        except RecursionError:  # nested deeper than the decoder can follow
            return self._too_deep(data)
        if type(wire) in CARRIES_JSON and too_deep(data):
            return self._too_deep(data)
        event = wire.to_event()
        if event is None:
            self._log_ignored(data, wire, None)
        return event

    def parse_binary(self, data: bytes) -> ErrorEvent:
        """A binary frame is a protocol violation the caller turns into an error."""
        logger.debug(
            "unexpected binary realtime frame",
            extra={"realtime_version": self._version.value, "frame_bytes": len(data)},
        )
        return ErrorEvent(BINARY_FRAME_ERROR)

    def _too_deep(self, data: str | bytes) -> ErrorEvent:
        logger.warning(
            _TOO_DEEP_MESSAGE,
            extra={"realtime_version": self._version.value, "frame_bytes": len(data)},
        )
        return ErrorEvent(_TOO_DEEP_MESSAGE, FRAME_TOO_DEEP)

    def _log_ignored(self, data: str | bytes, wire: Wire | None, exc: ValueError | None) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        event_type, reason = self._diagnose(data, wire, exc)
        excerpt = data[:_EXCERPT_CHARS]
        logger.debug(
            "ignored realtime %s event type=%s: %s",
            self._version.value,
            event_type,
            reason,
            extra={
                "realtime_version": self._version.value,
                "event_type": event_type,
                "reason": reason,
                "payload_excerpt": excerpt if isinstance(excerpt, str) else repr(excerpt),
            },
        )

    def _diagnose(
        self, data: str | bytes, wire: Wire | None, exc: ValueError | None
    ) -> tuple[str | None, str]:
        if wire is not None:
            return str(wire.__struct_config__.tag), "missing or invalid required field"
        try:
            raw = msgspec.json.decode(data)
        except ValueError as decode_exc:
            return None, f"invalid JSON: {decode_exc}"
        if type(raw) is not dict:
            return None, "not a JSON object"
        event_type = raw.get("type")
        if type(event_type) is not str:
            return None, "missing type"
        if event_type not in self._known:
            return event_type, "unsupported event type"
        return event_type, f"missing or invalid field: {exc}"


# --- client messages (reference 2.3) ---------------------------------------------------

_ENCODER: Final = msgspec.json.Encoder()


def encode(message: Mapping[str, Any]) -> bytes:
    """Encode a client message as compact UTF-8 JSON (send it as a TEXT frame)."""
    return _ENCODER.encode(message)


def prefix_text(text: str, prefix: str) -> str:
    """Add ``prefix`` unless ``text`` is empty or already starts with it."""
    return text if not text or text.startswith(prefix) else prefix + text


def _message_item(role: str, text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": role,
            "content": [{"type": "input_text", "text": text}],
        },
    }


def session_update(config: SessionConfig) -> dict[str, Any]:
    """``session.update`` for ``config`` (the first message on every socket)."""
    return {"type": "session.update", "session": session_payload(config)}


def input_audio_append(audio_b64: str) -> dict[str, Any]:
    """Append base64 PCM16 (24 kHz mono) to the server's input audio buffer."""
    return {"type": "input_audio_buffer.append", "audio": audio_b64}


def user_text_item(version: Version, text: str) -> dict[str, Any]:
    """A user text message; v2 marks it with ``[USER] ``, v1 sends it unchanged."""
    if version is Version.V2:
        text = prefix_text(text, USER_TEXT_PREFIX)
    return _message_item("user", text)


def assistant_text_item(text: str) -> dict[str, Any]:
    """An assistant message given as text (restoring a conversation on a new session)."""
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text}],
        },
    }


def backend_text_item(text: str) -> dict[str, Any]:
    """A v2 background-agent update, sent as a ``[BACKEND] `` user message."""
    return _message_item("user", prefix_text(text, BACKEND_PREFIX))


def function_call_output(call_id: str, output: str) -> dict[str, Any]:
    """The v2 result of a function call (``background_agent`` or ``remain_silent``)."""
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def handoff_append(handoff_id: str, output_text: str) -> dict[str, Any]:
    """The v1 handoff output."""
    return {
        "type": "conversation.handoff.append",
        "handoff_id": handoff_id,
        "output_text": output_text,
    }


def response_create() -> dict[str, Any]:
    """Ask the v2 model to respond now."""
    return {"type": "response.create"}


def input_audio_commit() -> dict[str, Any]:
    """End the spoken turn: the input audio so far becomes a user item (VAD off)."""
    return {"type": "input_audio_buffer.commit"}


def input_audio_clear() -> dict[str, Any]:
    """Drop the input audio not committed yet."""
    return {"type": "input_audio_buffer.clear"}


def response_cancel(event_id: str | None = None) -> dict[str, Any]:
    """Cancel the in-progress response (v2); nothing active: an ``error`` comes back."""
    message: dict[str, Any] = {"type": "response.cancel"}
    if event_id is not None:
        message["event_id"] = event_id
    return message


def output_audio_buffer_clear(event_id: str | None = None) -> dict[str, Any]:
    """Cut off the audio the server is still playing (WebRTC/SIP only; after a cancel)."""
    message: dict[str, Any] = {"type": "output_audio_buffer.clear"}
    if event_id is not None:
        message["event_id"] = event_id
    return message


def item_truncate(item_id: str, audio_end_ms: int, event_id: str | None = None) -> dict[str, Any]:
    """Cut an assistant audio item at ``audio_end_ms`` (v2 barge-in over WebSocket).

    ``event_id`` (optional on the wire) lets an ``error`` the server sends about this
    request be recognised: it comes back as ``error.event_id``.
    """
    message: dict[str, Any] = {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": audio_end_ms,
    }
    if event_id is not None:
        message["event_id"] = event_id
    return message

"""Server-side parsing of ``POST /v1/realtime/calls`` bodies (pure: no I/O).

Three body forms are accepted, as real clients send them:

* ``multipart/form-data`` with an ``sdp`` field and an optional ``session`` field
  (a JSON object as text): what the official SDK and realtalk send;
* ``application/json`` ``{"sdp": "<offer>", "session": {...}}`` (``/backend-api``
  style; ``session`` may also be a JSON string);
* ``application/sdp``: the bare offer, no session.

The multipart parser is written here (not taken from aiohttp) because the handler
needs the raw body for the call record, and an aiohttp request body can be read
only once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from realtalk.emulator._wire import SessionMode, SessionVersion

__all__ = ["CallBody", "CallBodyError", "call_model_settings", "parse_call_body"]

JsonDict = dict[str, Any]
BodyKind = Literal["multipart", "json", "sdp"]


class CallBodyError(ValueError):
    """The request body cannot be used; ``str(exc)`` is the API error message."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class CallBody:
    """A parsed call-creation body."""

    kind: BodyKind
    offer_sdp: str
    session: JsonDict | None


def _split_params(value: str) -> tuple[str, dict[str, str]]:
    """``type/sub; a=1; b="x"`` -> (``type/sub``, {a: 1, b: x}); names lower-cased."""
    head, *rest = value.split(";")
    params: dict[str, str] = {}
    for piece in rest:
        name, sep, raw = piece.partition("=")
        if sep:
            params[name.strip().lower()] = raw.strip().strip('"')
    return head.strip().lower(), params


def _decode_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CallBodyError(f"The '{what}' field is not valid UTF-8.", param=what) from None


def _session_object(value: Any) -> JsonDict | None:
    if value is None:
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise CallBodyError("The 'session' field is not valid JSON.", param="session") from None
    if not isinstance(value, dict):
        raise CallBodyError("The 'session' field must be a JSON object.", param="session")
    return value


def _multipart_fields(body: bytes, boundary: str) -> dict[str, bytes]:
    dash = b"--" + boundary.encode("latin-1")
    if body.startswith(dash):
        rest = body[len(dash) :]
    else:
        start = body.find(b"\r\n" + dash)
        if start < 0:
            raise CallBodyError("Malformed multipart body: no part delimiter found.")
        rest = body[start + 2 + len(dash) :]
    fields: dict[str, bytes] = {}
    for piece in rest.split(b"\r\n" + dash):
        if piece.startswith(b"--"):
            return fields
        line_end = piece.find(b"\r\n")
        if line_end < 0 or piece[:line_end].strip(b" \t"):
            raise CallBodyError("Malformed multipart body: bad delimiter line.")
        part = piece[line_end + 2 :]
        if part.startswith(b"\r\n"):
            head, content = b"", part[2:]
        else:
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                raise CallBodyError("Malformed multipart body: part headers never end.")
        name = None
        for line in head.decode("latin-1").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() == "content-disposition":
                name = _split_params(value)[1].get("name")
        if name is not None and name not in fields:
            fields[name] = content
    raise CallBodyError("Malformed multipart body: missing the closing delimiter.")


def parse_call_body(content_type: str | None, body: bytes) -> CallBody:
    """Parse a call-creation body by its ``Content-Type``.

    Raises:
        CallBodyError: unsupported type, malformed body, or a missing ``sdp``.
    """
    mime, params = _split_params(content_type or "")
    if mime == "application/sdp":
        sdp = _decode_text(body, "sdp")
        if not sdp.strip():
            raise CallBodyError("Missing required parameter: 'sdp'.", param="sdp")
        return CallBody("sdp", sdp, None)
    if mime == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise CallBodyError("Malformed multipart body: the Content-Type has no boundary.")
        fields = _multipart_fields(body, boundary)
        if "sdp" not in fields:
            raise CallBodyError("Missing required parameter: 'sdp'.", param="sdp")
        session = fields.get("session")
        return CallBody(
            "multipart",
            _decode_text(fields["sdp"], "sdp"),
            _session_object(_decode_text(session, "session")) if session is not None else None,
        )
    if mime == "application/json":
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            raise CallBodyError("The request body is not valid JSON.") from None
        if not isinstance(value, dict) or not isinstance(value.get("sdp"), str):
            raise CallBodyError("Missing required parameter: 'sdp'.", param="sdp")
        return CallBody("json", value["sdp"], _session_object(value.get("session")))
    raise CallBodyError(
        f"Unsupported Content-Type '{content_type or ''}'. Send multipart/form-data "
        "(fields 'sdp' and 'session'), application/json or application/sdp."
    )


def call_model_settings(
    session: JsonDict | None, *, query_model: str | None = None
) -> tuple[SessionVersion, SessionMode, str | None]:
    """Version, mode and model name of the call's session.

    ``type`` ``realtime`` (default) -> v2, ``transcription`` -> v2 transcription,
    ``quicksilver`` -> v1.

    Raises:
        CallBodyError: an unknown session ``type``.
    """
    session = session or {}
    kind = session.get("type", "realtime")
    model = session.get("model")
    name = model if isinstance(model, str) and model else query_model
    if kind == "realtime":
        return "v2", "conversational", name
    if kind == "transcription":
        return "v2", "transcription", name
    if kind == "quicksilver":
        return "v1", "conversational", name
    raise CallBodyError(
        f"Invalid value: '{kind}'. Supported values are: 'realtime', 'transcription' "
        "and 'quicksilver'.",
        param="session.type",
    )

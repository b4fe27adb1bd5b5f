"""JSON-RPC 2.0 framing for the app-server (pure: no I/O).

The wire omits the ``"jsonrpc": "2.0"`` member (accepted, and checked, when a
client sends it). Message kinds: request ``{id, method, params?}``, notification
``{method, params?}``, response ``{id, result}``, error ``{id, error: {code,
message, data}}``. ``id`` is a string or an integer.

:func:`parse_message` never raises: a frame that is not a usable message comes
back as an :class:`RpcFailure` carrying the error to send (``id`` null when the
request id could not be recovered). Params stay raw until :func:`decode_params`
converts them into the method's typed struct, so invalid params are reported
with the offending field (``-32602``).

The method names, and which of them are experimental, are the app-server's
(``realtalk.app_server``'s method table); this module knows only the framing.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

import msgspec

from realtalk._errors import ProtocolError

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MAX_MESSAGE_BYTES",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SERVER_OVERLOADED",
    "IncomingNotification",
    "IncomingRequest",
    "IncomingResponse",
    "ParamsError",
    "RequestId",
    "RpcErrorObject",
    "RpcFailure",
    "decode_params",
    "encode_error",
    "encode_notification",
    "encode_request",
    "encode_response",
    "is_valid_header_value",
    "oversized_error",
    "parse_message",
]

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_OVERLOADED: Final = -32001

MAX_MESSAGE_BYTES: Final = 8 * 1024 * 1024
"""Largest accepted message (one line on stdio, one text frame on WebSocket)."""

RequestId = int | str


class RpcErrorObject(msgspec.Struct, frozen=True):
    """The ``error`` member of an error response."""

    code: int
    message: str
    data: Any = None


class RpcFailure(msgspec.Struct, frozen=True):
    """An incoming frame that must be answered with ``error`` (``id`` None: null)."""

    error: RpcErrorObject
    id: RequestId | None = None


class IncomingRequest(msgspec.Struct, frozen=True):
    id: RequestId
    method: str
    params: msgspec.Raw | None = None


class IncomingNotification(msgspec.Struct, frozen=True):
    method: str
    params: msgspec.Raw | None = None


class IncomingResponse(msgspec.Struct, frozen=True):
    """A client's answer to a server request (``result`` or ``error`` raw)."""

    id: RequestId
    result: msgspec.Raw | None = None
    error: msgspec.Raw | None = None


Incoming = IncomingRequest | IncomingNotification | IncomingResponse | RpcFailure


class _Envelope(msgspec.Struct):
    jsonrpc: str | msgspec.UnsetType = msgspec.UNSET
    id: int | str | msgspec.UnsetType = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_envelope_decoder: Final = msgspec.json.Decoder(_Envelope)

_TOO_DEEP: Final = "Parse error: JSON is nested too deeply; flatten the message"


def _invalid(message: str, request_id: RequestId | None = None) -> RpcFailure:
    return RpcFailure(RpcErrorObject(INVALID_REQUEST, f"Invalid request: {message}"), request_id)


def oversized_error(size: int | None = None) -> RpcFailure:
    """The answer to a message longer than :data:`MAX_MESSAGE_BYTES`."""
    got = "" if size is None else f" (got {size} bytes)"
    return _invalid(f"message exceeds the {MAX_MESSAGE_BYTES}-byte limit{got}")


def _recover_id(data: bytes | str) -> RequestId | None:
    """The request id of a frame that failed typed decoding, when it has a usable one."""
    try:
        value = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    if isinstance(value, dict):
        rid = value.get("id")
        if isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool)):
            return rid
    return None


def parse_message(data: bytes | str) -> Incoming:
    """Classify one frame. Never raises."""
    if len(data) > MAX_MESSAGE_BYTES:
        return oversized_error(len(data))
    try:
        env = _envelope_decoder.decode(data)
    except msgspec.ValidationError as exc:
        if data.lstrip()[:1] in (b"[", "["):
            return _invalid("batch requests are not supported; send one message per frame")
        return _invalid(_describe(exc)[0], _recover_id(data))
    except msgspec.DecodeError as exc:
        return RpcFailure(RpcErrorObject(PARSE_ERROR, f"Parse error: {exc}"))
    except RecursionError:
        return RpcFailure(RpcErrorObject(PARSE_ERROR, _TOO_DEEP))
    rid = None if isinstance(env.id, msgspec.UnsetType) else env.id
    if not isinstance(env.jsonrpc, msgspec.UnsetType) and env.jsonrpc != "2.0":
        return _invalid(f'unsupported jsonrpc version {env.jsonrpc!r}; use "2.0"', rid)
    params = None if isinstance(env.params, msgspec.UnsetType) else env.params
    if not isinstance(env.method, msgspec.UnsetType):
        if not env.method:
            return _invalid("method must not be empty", rid)
        if rid is None:
            return IncomingNotification(env.method, params)
        return IncomingRequest(rid, env.method, params)
    result = None if isinstance(env.result, msgspec.UnsetType) else env.result
    error = None if isinstance(env.error, msgspec.UnsetType) else env.error
    if rid is not None and (result is not None or error is not None):
        return IncomingResponse(rid, result, error)
    return _invalid("missing field `method`", rid)


# -- params -------------------------------------------------------------------------

T = TypeVar("T")

_MISSING: Final = re.compile(r"^Object missing required field `([^`]+)`(?: - at `\$\.?([^`]*)`)?$")
_AT: Final = re.compile(r" - at `\$\.?([^`]*)`$")


class ParamsError(ProtocolError):
    """Params do not match the method's type; ``field`` is the dotted path (or None)."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field

    def to_error(self) -> RpcErrorObject:
        data = None if self.field is None else {"field": self.field}
        return RpcErrorObject(INVALID_PARAMS, str(self), data)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _describe(exc: msgspec.ValidationError) -> tuple[str, str | None]:
    """msgspec's message rephrased as ```<field>`: <problem>``, and the field path."""
    text = str(exc)
    missing = _MISSING.match(text)
    if missing:
        name, parent = missing.group(1), missing.group(2)
        path = f"{parent}.{name}" if parent else name
        return f"missing field `{path}`", path
    at = _AT.search(text)
    if at and at.group(1):
        path = at.group(1)
        return f"`{path}`: {_lower_first(text[: at.start()])}", path
    if at:
        text = text[: at.start()]
    return _lower_first(text), None


_param_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode_params(raw: msgspec.Raw | None, kind: type[T]) -> T:
    """Decode ``params`` (absent or null: ``{}``) into ``kind``.

    Raises:
        ParamsError: The params do not fit (the message names the field) or are
            nested too deeply to decode.
    """
    data: bytes | msgspec.Raw = b"{}" if raw is None or bytes(raw) == b"null" else raw
    decoder = _param_decoders.get(kind)
    if decoder is None:
        decoder = _param_decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        message, field = _describe(exc)
        raise ParamsError(f"Invalid params: {message}", field) from exc
    except msgspec.DecodeError as exc:  # pragma: no cover - Raw came from valid JSON
        raise ParamsError(f"Invalid params: {exc}", None) from exc
    except RecursionError as exc:
        raise ParamsError("Invalid params: nested too deeply; flatten the params", None) from exc


# -- validation --------------------------------------------------------------------------


def is_valid_header_value(value: str) -> bool:
    """True when ``value`` may be sent as an HTTP header value (visible ASCII, space, tab)."""
    return all(ch == "\t" or " " <= ch <= "~" for ch in value)


# -- encoding -----------------------------------------------------------------------


class _OutResponse(msgspec.Struct):
    id: RequestId
    result: Any


class _OutError(msgspec.Struct):
    id: RequestId | None
    error: RpcErrorObject


class _OutNotification(msgspec.Struct, omit_defaults=True):
    method: str
    params: Any = None


class _OutRequest(msgspec.Struct, omit_defaults=True):
    id: RequestId
    method: str
    params: Any = None


_encoder: Final = msgspec.json.Encoder()


def encode_response(request_id: RequestId, result: Any) -> bytes:
    return _encoder.encode(_OutResponse(request_id, result))


def encode_error(request_id: RequestId | None, error: RpcErrorObject) -> bytes:
    return _encoder.encode(_OutError(request_id, error))


def encode_notification(method: str, params: Any = None) -> bytes:
    return _encoder.encode(_OutNotification(method, params))


def encode_request(request_id: RequestId, method: str, params: Any = None) -> bytes:
    return _encoder.encode(_OutRequest(request_id, method, params))

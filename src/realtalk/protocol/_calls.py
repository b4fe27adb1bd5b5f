"""WebRTC call creation: request bodies and ``Location`` parsing (pure, no I/O).

Creating a call is one ``POST <base>/realtime/calls`` carrying the offer SDP and,
optionally, the session JSON. Three body forms exist (reference section 3):

* ``multipart``: API bases. Hand-built ``multipart/form-data`` with the fixed
  boundary ``codex-realtime-call-boundary``; servers and tests compare it byte for byte,
  so it is assembled here instead of by an HTTP library.
* ``json``: bases containing ``/backend-api`` get ``{"sdp": ..., "session": {...}}``.
* ``sdp``: the bare variant, the offer as a raw ``application/sdp`` body.

The answer is the response body; the call id comes from the ``Location`` header.

The local media peer's lifecycle is also a pure table here (``next_peer_state``):

    NEW --create_offer--> OFFERED --accept_answer--> NEGOTIATED --connect--> CONNECTED
    NEW --accept_offer--> NEGOTIATED            (answerer role)
    NEW/OFFERED/NEGOTIATED/CONNECTED --fail--> FAILED;  any --close--> CLOSED
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from realtalk._errors import ConfigError, ProtocolError, TransportError
from realtalk.protocol._table import StateTable, TransitionError

__all__ = [
    "CALL_BOUNDARY",
    "MULTIPART_CONTENT_TYPE",
    "CallBodyKind",
    "CallRequest",
    "PEER_TRANSITIONS",
    "PeerInput",
    "PeerState",
    "PeerStateError",
    "build_call_request",
    "call_id_from_location",
    "calls_url",
    "choose_body_kind",
    "decode_answer_sdp",
    "encode_call_session",
    "json_call_body",
    "multipart_call_body",
    "next_peer_state",
    "server_error_message",
]

CALL_BOUNDARY = "codex-realtime-call-boundary"
MULTIPART_CONTENT_TYPE = f"multipart/form-data; boundary={CALL_BOUNDARY}"
SDP_CONTENT_TYPE = "application/sdp"
JSON_CONTENT_TYPE = "application/json"

CallBodyKind = Literal["multipart", "json", "sdp"]

_CALL_ID_PREFIX = "rtc_"
_BACKEND_MARKER = "/backend-api"


@dataclass(frozen=True, slots=True)
class CallRequest:
    """Everything needed to send one call-creation request."""

    url: str
    content_type: str
    body: bytes


def _compact_sorted(value: object) -> str:
    # The reference serialises through a generic JSON value, which sorts keys at every
    # level; servers and tests compare the exact text.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def calls_url(base_url: str) -> str:
    """Return ``<base>/realtime/calls``, keeping any query string of the base.

    Raises:
        ConfigError: ``base_url`` cannot be parsed.
    """
    try:
        parts = urlsplit(base_url)
    except ValueError as exc:
        raise ConfigError(
            f"invalid realtime calls base URL {base_url!r}: {exc}; check the provider base URL"
        ) from exc
    path = parts.path.rstrip("/") + "/realtime/calls"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def encode_call_session(session: Mapping[str, Any], *, model: str | None = None) -> str:
    """Encode a ``session.update`` session for call creation.

    The call session is the socket session without ``id`` and with ``model``; keys are
    sorted at every level and the output is compact.
    """
    value = {key: item for key, item in session.items() if key != "id"}
    if model is not None:
        value["model"] = model
    return _compact_sorted(value)


def choose_body_kind(base_url: str, *, has_session: bool) -> CallBodyKind:
    """Pick the body form the reference uses for ``base_url``."""
    if not has_session:
        return "sdp"
    return "json" if _BACKEND_MARKER in base_url else "multipart"


def multipart_call_body(offer_sdp: str, session_json: str) -> bytes:
    """Build the exact multipart body: an ``sdp`` part then a ``session`` part."""
    delimiter = f"--{CALL_BOUNDARY}\r\n"
    text = (
        f"{delimiter}"
        'Content-Disposition: form-data; name="sdp"\r\n'
        "Content-Type: application/sdp\r\n\r\n"
        f"{offer_sdp}\r\n"
        f"{delimiter}"
        'Content-Disposition: form-data; name="session"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f"{session_json}\r\n"
        f"--{CALL_BOUNDARY}--\r\n"
    )
    return text.encode("utf-8")


def json_call_body(offer_sdp: str, session_json: str) -> bytes:
    """Build the ``/backend-api`` body ``{"sdp": <offer>, "session": {...}}``.

    Raises:
        ValueError: ``session_json`` is not a JSON object.
    """
    session = json.loads(session_json)
    if not isinstance(session, dict):
        raise ValueError("session_json must encode a JSON object")
    return _compact_sorted({"sdp": offer_sdp, "session": session}).encode("utf-8")


def build_call_request(
    base_url: str,
    offer_sdp: str,
    *,
    session_json: str | None = None,
    body: CallBodyKind | Literal["auto"] = "auto",
) -> CallRequest:
    """Build the call-creation request for ``base_url``.

    Args:
        base_url: The model provider base, e.g. ``https://api.openai.com/v1``.
        offer_sdp: The local offer.
        session_json: Encoded call session (see :func:`encode_call_session`); ``None``
            sends the bare SDP.
        body: Body form; ``"auto"`` follows the reference (JSON for ``/backend-api``
            bases, multipart otherwise, raw SDP without a session).

    Raises:
        ValueError: a session body form was requested without ``session_json``.
    """
    kind = (
        choose_body_kind(base_url, has_session=session_json is not None) if body == "auto" else body
    )
    url = calls_url(base_url)
    if kind == "sdp":
        return CallRequest(url, SDP_CONTENT_TYPE, offer_sdp.encode("utf-8"))
    if session_json is None:
        raise ValueError(f"a {kind} call body needs session_json")
    if kind == "json":
        return CallRequest(url, JSON_CONTENT_TYPE, json_call_body(offer_sdp, session_json))
    return CallRequest(url, MULTIPART_CONTENT_TYPE, multipart_call_body(offer_sdp, session_json))


def _is_visible_header_text(value: str) -> bool:
    # Same rule as the reference's header `to_str()`: visible ASCII or tab only.
    return all(ch == "\t" or " " <= ch <= "~" for ch in value)


def call_id_from_location(location: str | None) -> str:
    """Extract the call id from a call-creation ``Location`` header.

    Anything after ``?`` is dropped; path segments are scanned from the end and the
    first one starting with ``rtc_`` (and longer than it) wins.

    Raises:
        ProtocolError: the header is missing, not visible ASCII, or holds no call id.
    """
    if location is None:
        raise ProtocolError("realtime call response missing Location")
    if not _is_visible_header_text(location):
        raise ProtocolError("invalid realtime call Location: failed to convert header to a str")
    path = location.split("?", 1)[0]
    for segment in reversed(path.split("/")):
        if segment.startswith(_CALL_ID_PREFIX) and len(segment) > len(_CALL_ID_PREFIX):
            return segment
    raise ProtocolError(f"realtime call Location does not contain a call id: {location}")


def decode_answer_sdp(body: bytes) -> str:
    """Decode the answer SDP (the response body, UTF-8).

    Raises:
        ProtocolError: the body is not UTF-8.
    """
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"failed to decode realtime call SDP response: {exc}") from exc


def server_error_message(body: bytes) -> str | None:
    """Return the message of an OpenAI-style error body, or ``None``.

    Recognises ``{"error": {"message": "..."}}`` and ``{"error": "..."}``.
    """
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return message if isinstance(message, str) and message else None
    return error if isinstance(error, str) and error else None


class PeerState(enum.Enum):
    """Lifecycle of a local WebRTC media peer."""

    NEW = "new"
    OFFERED = "offered"  # local offer set, waiting for the answer
    NEGOTIATED = "negotiated"  # both descriptions set, ICE/DTLS connecting
    CONNECTED = "connected"
    FAILED = "failed"  # transport lost or setup failed; only close is left
    CLOSED = "closed"


class PeerInput(enum.Enum):
    """What can happen to a peer."""

    CREATE_OFFER = "create_offer"
    ACCEPT_ANSWER = "accept_answer"
    ACCEPT_OFFER = "accept_offer"
    CONNECT = "connect"
    FAIL = "fail"
    CLOSE = "close"


_S, _I = PeerState, PeerInput
_PEER_STEPS: dict[tuple[PeerState, PeerInput], tuple[PeerState, None]] = {
    (_S.NEW, _I.CREATE_OFFER): (_S.OFFERED, None),
    (_S.NEW, _I.ACCEPT_OFFER): (_S.NEGOTIATED, None),
    (_S.OFFERED, _I.ACCEPT_ANSWER): (_S.NEGOTIATED, None),
    (_S.NEGOTIATED, _I.CONNECT): (_S.CONNECTED, None),
    **{
        (state, _I.FAIL): (_S.FAILED, None)
        for state in (_S.NEW, _S.OFFERED, _S.NEGOTIATED, _S.CONNECTED)
    },
    **{(state, _I.CLOSE): (_S.CLOSED, None) for state in PeerState},
}
PEER_TRANSITIONS: Final = StateTable("WebRTC peer", PeerState, PeerInput, _PEER_STEPS, total=False)
"""A partial table: a missing pair is an operation the state does not allow."""


class PeerStateError(TransportError):
    """A peer operation was called in a state that does not allow it."""


def next_peer_state(state: PeerState, event: PeerInput) -> PeerState:
    """Return the state after ``event``.

    Raises:
        PeerStateError: ``event`` is not allowed in ``state``.
    """
    try:
        return PEER_TRANSITIONS.step(state, event).state
    except TransitionError:
        raise PeerStateError(
            f"cannot {event.value.replace('_', ' ')} while the WebRTC peer is {state.value}"
        ) from None

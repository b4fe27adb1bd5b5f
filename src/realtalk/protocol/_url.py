"""Realtime websocket URL and handshake headers (reference 2.1, 2.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from realtalk._errors import ConfigError
from realtalk.protocol._events import Mode, Version

__all__ = [
    "OPENAI_ALPHA_HEADER",
    "OPENAI_ALPHA_V1",
    "SESSION_ID_HEADER",
    "check_api_key",
    "merge_headers",
    "realtime_headers",
    "realtime_ws_url",
]

SESSION_ID_HEADER: Final = "x-session-id"
OPENAI_ALPHA_HEADER: Final = "openai-alpha"
OPENAI_ALPHA_V1: Final = "quicksilver=v1"
_V1_INTENT: Final = "quicksilver"
_SCHEMES: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def _normalise_path(path: str) -> str:
    if path in ("", "/"):
        return "/v1/realtime"
    if path.endswith("/realtime"):
        return path
    if path.endswith("/realtime/"):
        return path.rstrip("/")
    if path.endswith("/v1"):
        return path + "/realtime"
    if path.endswith("/v1/"):
        return path + "realtime"
    return path


def _split(base_url: str) -> SplitResult:
    try:
        parts = urlsplit(base_url.strip())
    except ValueError as exc:
        raise ConfigError(f"failed to parse realtime api_url: {exc}") from exc
    if not parts.scheme:
        raise ConfigError(
            f"failed to parse realtime api_url: {base_url!r} has no scheme "
            "(use http://, https://, ws:// or wss://)"
        )
    return parts


def realtime_ws_url(
    base_url: str,
    *,
    version: Version,
    mode: Mode,
    model: str | None,
    query_params: Mapping[str, str] | None = None,
    call_id: str | None = None,
) -> str:
    """Build the realtime websocket URL from a provider base URL.

    Args:
        base_url: Provider base URL (``http``, ``https``, ``ws`` or ``wss``).
        version: Wire version; only v1 sends ``intent=quicksilver``.
        mode: Session mode. It does not change the URL (kept for symmetry with the
            reference, which ignores it too).
        model: Realtime model for a normal connect. Ignored for a sideband join.
        query_params: Provider query parameters. ``intent`` is always dropped, and
            ``model`` is dropped when a model is set.
        call_id: WebRTC call id: builds the sideband URL (no ``model``).

    Raises:
        ConfigError: The URL cannot be parsed or has an unsupported scheme.
    """
    del mode  # the URL is the same in both modes (reference 2.1)
    parts = _split(base_url)
    scheme = _SCHEMES.get(parts.scheme)
    if scheme is None:
        raise ConfigError(f"unsupported realtime api_url scheme: {parts.scheme}")
    if call_id is not None:
        model = None  # the sideband joins an existing call; the model is already chosen

    pairs: list[tuple[str, str]] = []
    if version is Version.V1:
        pairs.append(("intent", _V1_INTENT))
    if model is not None:
        pairs.append(("model", model))
    for key, value in (query_params or {}).items():
        if key == "intent" or (key == "model" and model is not None):
            continue
        pairs.append((key, value))
    if call_id is not None:
        pairs.append(("call_id", call_id))

    query = parts.query
    if pairs:
        added = urlencode(pairs)
        query = f"{query}&{added}" if query else added
    return urlunsplit((scheme, parts.netloc, _normalise_path(parts.path), query, parts.fragment))


def _check_value(name: str, value: str) -> None:
    # A CR/LF or other control character would let a header value inject headers;
    # the reference refuses such values (HeaderValue::from_str) at preflight.
    if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in value):
        raise ConfigError(
            f"invalid realtime header `{name}`: value contains control characters; "
            "remove newlines and other control characters from it"
        )


def merge_headers(
    provider: Mapping[str, str] | None,
    extra: Mapping[str, str] | None,
    *,
    session_id: str | None,
    defaults: Mapping[str, str] | None,
) -> dict[str, str]:
    """Merge handshake headers with the reference's precedence (reference 2.2).

    Order: provider headers, then ``extra`` overrides them, then ``x-session-id`` is
    (re)set from ``session_id``, then ``defaults`` fill only names not yet present.
    Names compare case-insensitively; the spelling of the winning entry is kept.

    Raises:
        ConfigError: A header value contains control characters.
    """
    merged: dict[str, tuple[str, str]] = {}

    def put(name: str, value: str, *, override: bool) -> None:
        key = name.lower()
        if not override and key in merged:
            return
        _check_value(name, value)
        merged[key] = (name, value)

    for name, value in (provider or {}).items():
        put(name, value, override=True)
    for name, value in (extra or {}).items():
        put(name, value, override=True)
    if session_id is not None:
        put(SESSION_ID_HEADER, session_id, override=True)
    for name, value in (defaults or {}).items():
        put(name, value, override=False)
    return dict(merged.values())


def _is_header_safe(value: str) -> bool:
    """No control characters (CR/LF would split the header; others are refused by servers)."""
    return not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


def check_api_key(api_key: str) -> None:
    """Refuse a key that cannot go into an ``Authorization`` header (never echoing it).

    Raises:
        ConfigError: The key contains a control character.
    """
    if not _is_header_safe(api_key):
        # A stray CR/LF usually comes from a .env file saved with Windows line endings.
        raise ConfigError(
            "the API key contains a control character (a stray newline or carriage "
            "return?); check OPENAI_API_KEY"
        )


def realtime_headers(version: Version, *, api_key: str | None, session_id: str) -> dict[str, str]:
    """The realtime-specific handshake headers (the ``extra`` of :func:`merge_headers`).

    ``Authorization: Bearer <key>`` when there is a key, ``x-session-id`` always, and
    ``openai-alpha: quicksilver=v1`` for v1 only. There is no ``OpenAI-Beta`` header.
    """
    if api_key:
        check_api_key(api_key)
    if not _is_header_safe(session_id):
        raise ConfigError(f"realtime session id {session_id!r} contains a control character")
    headers: dict[str, str] = {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers[SESSION_ID_HEADER] = session_id
    if version is Version.V1:
        headers[OPENAI_ALPHA_HEADER] = OPENAI_ALPHA_V1
    return headers

"""Ephemeral client secrets: ``POST /v1/realtime/client_secrets`` and ``ek_`` keys.

A server hands a browser an ``ek_…`` value instead of its API key. The emulator:

* answers ``POST /v1/realtime/client_secrets`` with ``{value, expires_at, session}``
  (``expires_after.seconds`` 10..7200, default 600; ``session`` is the GA session
  with the request's fields merged in, ``type`` ``realtime`` or ``transcription``);
* accepts the value as a bearer key (``Authorization: Bearer ek_…``, or the
  browsers' WebSocket subprotocol ``openai-insecure-api-key.ek_…``) on realtime
  sockets and ``/v1/realtime/calls`` until it expires, and applies its session to
  what it opens; an unknown or expired ``ek_`` key gets HTTP 401
  ``invalid_api_key``. One secret can open several sessions.

Any other bearer key is accepted as it is (the emulator has no accounts). Secrets are
never echoed in error messages.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from aiohttp import web

from realtalk.emulator._wire import SessionMode, apply_session_update, default_session

__all__ = ["EPHEMERAL_PREFIX", "ClientSecrets", "Secret", "bearer_key"]

JsonDict = dict[str, Any]
EPHEMERAL_PREFIX: Final = "ek_"
_SUBPROTOCOL_KEY: Final = "openai-insecure-api-key."
_DEFAULT_TTL_S: Final = 600
_MIN_TTL_S: Final = 10
_MAX_TTL_S: Final = 7200
_MAX_SECRETS: Final = 10_000


@dataclass(frozen=True)
class Secret:
    """One issued client secret."""

    value: str
    expires_at: int
    session: JsonDict
    mode: SessionMode


def bearer_key(request: web.Request) -> str | None:
    """The API key a request carries (header, or a browser's WebSocket subprotocol)."""
    auth = request.headers.get("Authorization", "")
    scheme, _, key = auth.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith(_SUBPROTOCOL_KEY):
            return protocol.removeprefix(_SUBPROTOCOL_KEY)
    return None


def _error(status: int, message: str, *, code: str | None, param: str | None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return web.json_response({"error": error}, status=status)


class ClientSecrets:
    """Issues client secrets and checks ``ek_`` bearer keys (``clock`` is Unix time)."""

    def __init__(self, *, clock: Callable[[], float], default_model: Callable[[], str]) -> None:
        self._clock = clock
        self._default_model = default_model
        self._issued: dict[str, Secret] = {}

    def install(self, app: web.Application) -> None:
        for path in ("/v1/realtime/client_secrets", "/realtime/client_secrets"):
            app.router.add_post(path, self._handle_create)

    def issue(self, body: Any) -> Secret | web.Response:
        """A new secret for a request body, or the 400 answer to a bad one."""
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", code=None, param=None)
        expires = body.get("expires_after") or {}
        seconds = expires.get("seconds", _DEFAULT_TTL_S) if isinstance(expires, dict) else None
        if (
            not isinstance(expires, dict)
            or expires.get("anchor", "created_at") != "created_at"
            or type(seconds) is not int
            or not _MIN_TTL_S <= seconds <= _MAX_TTL_S
        ):
            return _error(
                400,
                f"Invalid 'expires_after': 'anchor' must be 'created_at' and 'seconds' an "
                f"integer from {_MIN_TTL_S} to {_MAX_TTL_S}.",
                code="invalid_value",
                param="expires_after",
            )
        requested = body.get("session") or {"type": "realtime"}
        if not isinstance(requested, dict) or requested.get("type", "realtime") not in (
            "realtime",
            "transcription",
        ):
            return _error(
                400,
                "Invalid 'session': 'type' must be 'realtime' or 'transcription'.",
                code="invalid_value",
                param="session.type",
            )
        model = requested.get("model")
        model_name = model if isinstance(model, str) and model else self._default_model()
        base = default_session(
            version="v2",
            mode="conversational",
            session_id=f"sess_{secrets.token_hex(12)}",
            model=model_name,
        )
        merged = apply_session_update(base, requested, version="v2", model=model_name)
        if isinstance(merged, str):
            return _error(400, merged, code="invalid_value", param="session")
        session, mode = merged
        value = EPHEMERAL_PREFIX + secrets.token_urlsafe(24)
        secret = Secret(value, int(self._clock()) + seconds, session, mode)
        self._forget_expired()
        self._issued[value] = secret
        return secret

    def _forget_expired(self) -> None:
        now = self._clock()
        if len(self._issued) >= _MAX_SECRETS:
            for value in [v for v, s in self._issued.items() if s.expires_at <= now]:
                del self._issued[value]

    def check(self, request: web.Request) -> Secret | web.Response | None:
        """The secret a request authenticates with, a 401 answer, or None (a plain key)."""
        key = bearer_key(request)
        if key is None or not key.startswith(EPHEMERAL_PREFIX):
            return None
        secret = self._issued.get(key)
        if secret is None or secret.expires_at <= self._clock():
            reason = "has expired" if secret is not None else "is not known to this server"
            return _error(
                401,
                f"Incorrect API key provided: the ephemeral client secret {reason}. Create a "
                "new one with POST /v1/realtime/client_secrets.",
                code="invalid_api_key",
                param=None,
            )
        return secret

    async def _handle_create(self, request: web.Request) -> web.Response:
        try:
            body = msgspec.json.decode(await request.read())
        except (msgspec.DecodeError, RecursionError):
            return _error(
                400, "The request body is not valid JSON.", code="invalid_json", param=None
            )
        result = self.issue(body)
        if isinstance(result, web.Response):
            return result
        return web.json_response(
            {"value": result.value, "expires_at": result.expires_at, "session": result.session}
        )

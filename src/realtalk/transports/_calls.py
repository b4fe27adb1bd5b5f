"""WebRTC call creation over HTTP (aiohttp).

``create_call`` sends the offer to ``POST <base>/realtime/calls`` and returns the answer
SDP plus the call id from ``Location``. Bodies and parsing are the pure helpers of
``realtalk.protocol._calls``; this module only does the I/O and maps errors:

* connection failures and timeouts -> ``ConnectError``;
* non-2xx -> ``CallCreationError`` (a ``HandshakeError``) with the status and the
  server's own message;
* a 2xx without a usable ``Location`` or with a non-UTF-8 body -> ``ProtocolError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
from multidict import CIMultiDict

from realtalk._boundary import CONNECT_TIMEOUT_SETTING, connect_rules, hostname, map_exceptions
from realtalk._errors import ConfigError, HandshakeError
from realtalk._proxy import proxy_for_request
from realtalk._secrets import scrub
from realtalk.protocol import (
    CallBodyKind,
    build_call_request,
    call_id_from_location,
    decode_answer_sdp,
    server_error_message,
)
from realtalk.tls import ssl_for_url

__all__ = ["CallCreationError", "CallResult", "create_call"]

logger = logging.getLogger(__name__)

# Enough to show any real error message, small enough to keep logs and errors readable.
_MAX_ERROR_BODY_CHARS = 2000


class CallCreationError(HandshakeError):
    """The server refused to create the realtime call (non-2xx response)."""

    def __init__(
        self, message: str, *, status: int, body: str = "", server_message: str | None = None
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.server_message = server_message


@dataclass(frozen=True, slots=True)
class CallResult:
    """A created call: the answer SDP and the id the sideband joins with."""

    answer_sdp: str
    call_id: str
    location: str


def _refusal(status: int, reason: str | None, raw: bytes) -> CallCreationError:
    found = server_error_message(raw)
    server_message = scrub(found) if found is not None else None
    body = scrub(raw.decode("utf-8", errors="replace")[:_MAX_ERROR_BODY_CHARS])
    detail = server_message or body.strip() or (reason or "no response body")
    hint = (
        "check the API key and model settings"
        if status in (401, 403)
        else "retry later or check the server logs"
    )
    return CallCreationError(
        f"realtime call creation failed with HTTP {status}: {detail} ({hint})",
        status=status,
        body=body,
        server_message=server_message,
    )


async def create_call(
    base_url: str,
    *,
    offer_sdp: str,
    session_json: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: CallBodyKind | Literal["auto"] = "auto",
    timeout: float = 15.0,  # noqa: ASYNC109 (a single aiohttp request bound)
) -> CallResult:
    """Create a WebRTC realtime call.

    Args:
        base_url: Model provider base URL (``https://api.openai.com/v1``).
        offer_sdp: The local peer's offer.
        session_json: Encoded call session (``realtalk.protocol.call_session_json``);
            ``None`` sends the raw SDP body.
        headers: Extra request headers, auth included (``Authorization: Bearer ...``).
            Values are never logged.
        body: ``"multipart"``, ``"json"``, ``"sdp"`` or ``"auto"`` (JSON when the base
            contains ``/backend-api``, else multipart; raw SDP without a session).
        timeout: Total seconds for the request, response body included.

    Raises:
        ConfigError: the base URL is not a valid URL.
        ConnectError: the server could not be reached or did not answer in time.
        CallCreationError: the server answered with a non-2xx status.
        ProtocolError: the 2xx answer lacks a usable ``Location`` or is not UTF-8.
    """
    request = build_call_request(base_url, offer_sdp, session_json=session_json, body=body)
    # Case-insensitive, so a caller's own content-type cannot sneak in a second one.
    request_headers: CIMultiDict[str] = CIMultiDict(headers or {})
    request_headers["Content-Type"] = request.content_type
    ssl_context = ssl_for_url(request.url)
    proxy, proxy_headers = proxy_for_request(request.url, request_headers)
    started = time.monotonic()
    logger.debug(
        "realtime call request",
        extra={"url": request.url, "content_type": request.content_type, "body": request.body},
    )
    with map_exceptions(
        (
            aiohttp.InvalidURL,
            lambda exc: ConfigError(
                f"invalid realtime calls URL {request.url}: {exc}; check the provider base URL"
            ),
        ),
        *connect_rules(
            f"the realtime calls endpoint {request.url}",
            timeout_s=timeout,
            host=hostname(request.url),
            network=(aiohttp.ClientError, OSError),
            setting=CONNECT_TIMEOUT_SETTING,
        ),
        # aiohttp's own refusals (a host that is not valid IDNA, a control character in
        # a header); their texts quote no header values.
        (
            ValueError,
            lambda exc: ConfigError(
                f"invalid realtime call request to {request.url}: {exc}; "
                "check the base URL, the API key and the session id"
            ),
        ),
    ):
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(
                request.url,
                data=request.body,
                headers=request_headers,
                ssl=ssl_context if ssl_context is not None else True,
                allow_redirects=False,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as response,
        ):
            raw = await response.read()
            status = response.status
            reason = response.reason
            location = response.headers.get("Location")

    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    if not 200 <= status < 300:
        error = _refusal(status, reason, raw)
        logger.warning(
            "realtime call creation refused",
            extra={"url": request.url, "status": status, "elapsed_ms": elapsed_ms},
        )
        raise error
    answer_sdp = decode_answer_sdp(raw)
    logger.debug("realtime call response", extra={"sdp": answer_sdp, "location": location})
    call_id = call_id_from_location(location)
    logger.info(
        "realtime call created",
        extra={"url": request.url, "call_id": call_id, "elapsed_ms": elapsed_ms},
    )
    return CallResult(answer_sdp=answer_sdp, call_id=call_id, location=location or "")

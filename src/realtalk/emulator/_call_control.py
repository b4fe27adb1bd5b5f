"""Call control: ``POST /v1/realtime/calls/{call_id}/accept|reject|refer|hangup``.

Two kinds of call exist:

* WebRTC calls, created (and answered) by ``POST /v1/realtime/calls``;
* SIP calls, which ring until the application accepts or rejects them. Offline there
  is no phone network, so a test rings one with :meth:`CallControl.incoming` (or
  ``POST /_emulator/sip/incoming``, which answers ``{"call_id": ...}``): what the
  real API announces with a ``realtime.call.incoming`` webhook. An accepted SIP call
  runs the scripted model with the accepted session; control it over a sideband
  socket (``/v1/realtime?call_id=...``). It carries no media: its output audio is
  counted (``SipCall.output_audio_bytes``) and dropped.

Answers: 200 on success; 404 ``call_not_found`` for an unknown or ended call; 400 for
a request the call's state does not allow (accepting or rejecting a call that is not
ringing, referring one that is not active, refer or reject on a WebRTC call) or a bad
body (``accept`` needs a ``type: "realtime"`` session, ``refer`` a ``tel:``/``sip:``
``target_uri``, ``reject`` an optional SIP ``status_code`` 400-699, default 603).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Final, Literal, Protocol

import msgspec
from aiohttp import web

from realtalk.emulator._model import ScriptedModel
from realtalk.emulator._secrets import ClientSecrets
from realtalk.emulator._speech import AudioSink
from realtalk.emulator._wire import SessionMode, SessionVersion

__all__ = ["CallControl", "SipCall"]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
SipState = Literal["ringing", "active", "ended"]
_ACTIONS: Final = ("accept", "reject", "refer", "hangup")


class _WebRtcCalls(Protocol):
    def has(self, call_id: str) -> bool: ...

    async def end(self, call_id: str) -> None: ...


class _Host(Protocol):
    app: web.Application
    client_secrets: ClientSecrets

    def new_model(
        self,
        *,
        version: SessionVersion,
        mode: SessionMode,
        model: str | None,
        audio_sink: AudioSink | None,
    ) -> ScriptedModel: ...

    def register_call(self, call_id: str, model: ScriptedModel) -> None: ...

    async def end_call(self, call_id: str) -> None: ...


class SipCall:
    """One simulated incoming SIP call and what the application did with it."""

    def __init__(self, call_id: str, *, from_uri: str, to_uri: str) -> None:
        self.call_id = call_id
        self.from_uri = from_uri
        self.to_uri = to_uri
        self.state: SipState = "ringing"
        self.session: JsonDict | None = None
        """The session the call was accepted with."""
        self.reject_status: int | None = None
        self.refer_target: str | None = None
        self.output_audio_bytes = 0
        self.model: ScriptedModel | None = None
        self.ended = asyncio.Event()

    async def drop_audio(self, pcm: bytes) -> None:
        """The model's audio sink: there is no phone line offline."""
        self.output_audio_bytes += len(pcm)


def _answer(status: int, message: str | None = None, *, code: str | None = None) -> web.Response:
    if message is None:
        return web.json_response({}, status=status)
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return web.json_response({"error": error}, status=status)


class CallControl:
    """Serves the call-control routes for WebRTC calls and simulated SIP calls."""

    def __init__(self, host: _Host, webrtc: _WebRtcCalls) -> None:
        self._host = host
        self._webrtc = webrtc
        self.sip: dict[str, SipCall] = {}
        for prefix in ("/v1/realtime/calls", "/realtime/calls"):
            host.app.router.add_post(prefix + "/{call_id}/{action}", self._handle)
        host.app.router.add_post("/_emulator/sip/incoming", self._handle_incoming)

    def incoming(
        self,
        *,
        from_uri: str = "sip:+15550100@example.com",
        to_uri: str = "sip:+15550199@example.com",
    ) -> SipCall:
        """Ring a new SIP call (what a ``realtime.call.incoming`` webhook announces)."""
        call = SipCall(f"rtc_{secrets.token_hex(16)}", from_uri=from_uri, to_uri=to_uri)
        self.sip[call.call_id] = call
        logger.info("emulator sip call ringing", extra={"call_id": call.call_id})
        return call

    async def _handle_incoming(self, request: web.Request) -> web.Response:
        try:
            body = msgspec.json.decode(await request.read() or b"{}")
        except (msgspec.DecodeError, RecursionError):
            body = None
        if not isinstance(body, dict):
            return _answer(400, "The request body must be a JSON object.")
        kwargs = {
            k: v for k, v in body.items() if k in ("from_uri", "to_uri") and isinstance(v, str)
        }
        return web.json_response({"call_id": self.incoming(**kwargs).call_id})

    async def _handle(self, request: web.Request) -> web.Response:
        call_id, action = request.match_info["call_id"], request.match_info["action"]
        if action not in _ACTIONS:
            return _answer(404, f"Invalid URL (POST {request.path})")
        secret = self._host.client_secrets.check(request)
        if isinstance(secret, web.Response):
            return secret
        raw = await request.read()
        try:
            body = msgspec.json.decode(raw) if raw.strip() else {}
        except (msgspec.DecodeError, RecursionError):
            return _answer(400, "The request body is not valid JSON.", code="invalid_json")
        if not isinstance(body, dict):
            return _answer(400, "The request body must be a JSON object.")
        sip = self.sip.get(call_id)
        if sip is not None and sip.state != "ended":
            return await self._sip(sip, action, body)
        if self._webrtc.has(call_id):
            return await self._webrtc_call(call_id, action)
        return _answer(404, f"No realtime call with id '{call_id}'.", code="call_not_found")

    async def _webrtc_call(self, call_id: str, action: str) -> web.Response:
        if action == "hangup":
            await self._webrtc.end(call_id)
            return _answer(200)
        return _answer(
            400, f"Cannot {action} call '{call_id}': WebRTC calls are answered when created."
        )

    async def _sip(self, call: SipCall, action: str, body: JsonDict) -> web.Response:
        if action == "accept":
            return await self._accept(call, body)
        if action == "reject":
            status = body.get("status_code", 603)
            if call.state != "ringing":
                return _answer(400, f"Call '{call.call_id}' is not ringing; hang it up instead.")
            if type(status) is not int or not 400 <= status <= 699:
                return _answer(400, "Invalid 'status_code': expected a SIP status from 400 to 699.")
            call.reject_status = status
        elif action == "refer":
            target = body.get("target_uri")
            if call.state != "active":
                return _answer(400, f"Call '{call.call_id}' is not active; accept it first.")
            if not isinstance(target, str) or not target.startswith(("tel:", "sip:")):
                return _answer(
                    400,
                    "Missing or invalid 'target_uri': expected a 'tel:' or 'sip:' URI.",
                    code="missing_required_parameter",
                )
            call.refer_target = target
        await self._end(call)
        return _answer(200)

    async def _accept(self, call: SipCall, session: JsonDict) -> web.Response:
        if call.state != "ringing":
            return _answer(400, f"Call '{call.call_id}' was already accepted.")
        if session.get("type") != "realtime":
            return _answer(400, "Invalid 'type': accept needs a session with type 'realtime'.")
        model_name = session.get("model")
        model = self._host.new_model(
            version="v2",
            mode="conversational",
            model=model_name if isinstance(model_name, str) else None,
            audio_sink=call.drop_audio,
        )
        # Applied before any sink exists: nothing is emitted.
        await model.handle_client_event({"type": "session.update", "session": session})
        call.model, call.session, call.state = model, session, "active"
        self._host.register_call(call.call_id, model)
        return _answer(200)

    async def _end(self, call: SipCall) -> None:
        call.state = "ended"
        await self._host.end_call(call.call_id)
        if call.model is not None:
            await call.model.aclose()
        call.ended.set()
        logger.info("emulator sip call ended", extra={"call_id": call.call_id})

    async def aclose(self) -> None:
        """End every SIP call; idempotent."""
        for call in list(self.sip.values()):
            if call.state != "ended":
                await self._end(call)

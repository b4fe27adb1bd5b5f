"""WebRTC calls: ``POST /v1/realtime/calls``, hang-up, and the calls' lifecycle.

Each accepted call gets an aiortc answering peer and a :class:`ScriptedModel`
configured from the call's session JSON (applied as if a ``session.update`` had
arrived before anything else), wired together by
:class:`realtalk.emulator._call_media.Call`. Model events also reach every sideband
socket attached with ``/v1/realtime?call_id=`` (the server adds those as model sinks).

A call ends when its peer ends (hang-up, ICE failure), on
``POST /v1/realtime/calls/{call_id}/hangup`` (:mod:`realtalk.emulator._call_control`),
or when the emulator closes; its
sideband sockets are closed with it. Every request is kept as a :class:`CallRecord`
(unless the emulator runs with ``record=False``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Final, Protocol

from aiohttp import web

from realtalk._errors import ProtocolError
from realtalk.emulator._call_body import CallBodyError, call_model_settings, parse_call_body
from realtalk.emulator._call_media import Call, CallRecord, sleep_until
from realtalk.emulator._model import ScriptedModel
from realtalk.emulator._options import EmulatorOptions
from realtalk.emulator._secrets import ClientSecrets
from realtalk.emulator._speech import AudioSink
from realtalk.emulator._wire import SessionMode, SessionVersion, merge_session

__all__ = ["CallRecord", "CallService", "sleep_until"]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
CALL_PATHS: Final = ("/v1/realtime/calls", "/realtime/calls", "/backend-api/codex/realtime/calls")
_TEARDOWN_TIMEOUT_S: Final = 10.0
_LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "::1")
SERVER_ERROR_MESSAGE: Final = (
    "The server had an error while processing your request. Sorry about that!"
)


def _error_response(
    status: int,
    message: str,
    *,
    error_type: str,
    code: str | None = None,
    param: str | None = None,
) -> web.Response:
    error = {"type": error_type, "code": code, "message": message, "param": param}
    return web.json_response({"error": error}, status=status)


class _Host(Protocol):
    options: EmulatorOptions
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


class CallService:
    """Serves ``POST .../realtime/calls`` for an emulator and owns its calls."""

    def __init__(self, host: _Host, *, closing: asyncio.Event) -> None:
        self._host = host
        self._closing = closing
        self.records: list[CallRecord] = []
        self._records_changed = asyncio.Event()
        self._calls: dict[str, Call] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._teardowns: set[asyncio.Task[None]] = set()
        for path in CALL_PATHS:
            host.app.router.add_post(path, self._handle_create)

    # ------------------------------------------------------------ test helpers

    async def wait_for_calls(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                while len(self.records) < n:
                    await self._records_changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"only {len(self.records)} of {n} realtime calls within {timeout}s"
            ) from None

    def note_sideband(self, call_id: str, outcome: str | None) -> None:
        """The server reports each sideband request's arrival (None), then its outcome."""
        call = self._calls.get(call_id)
        if call is None:
            return
        if outcome is None:
            call.record.sideband_requests += 1
        else:
            call.record.sideband.append(outcome)
        call.record.notify()

    # ----------------------------------------------------------------- handlers

    async def _handle_create(self, request: web.Request) -> web.StreamResponse:
        options = self._host.options
        deadline = asyncio.get_running_loop().time() + options.call_latency_ms / 1000
        if self._closing.is_set():
            raise web.HTTPServiceUnavailable(text="emulator is shutting down")
        raw = await request.read()
        record = CallRecord(
            path_qs=request.path_qs,
            headers=dict(request.headers),
            content_type=request.headers.get("Content-Type"),
            body=raw,
        )
        response = await self._create(request, record)
        # The latency knob is the total answer time: wait only for what remains.
        await sleep_until(deadline, self._closing)
        record.status = response.status
        record.location = response.headers.get("Location")
        if options.record:
            self.records.append(record)
            changed, self._records_changed = self._records_changed, asyncio.Event()
            changed.set()
        logger.info(
            "emulator realtime call answered",
            extra={"call_id": record.call_id, "status": record.status, "body": record.body_kind},
        )
        return response

    async def _create(self, request: web.Request, record: CallRecord) -> web.Response:
        options = self._host.options
        secret = self._host.client_secrets.check(request)
        if isinstance(secret, web.Response):
            return secret
        try:
            body = parse_call_body(request.headers.get("Content-Type"), record.body)
            record.body_kind, record.offer_sdp, record.session = (
                body.kind,
                body.offer_sdp,
                body.session,
            )
            session = body.session
            if secret is not None:  # an ek_ key brings its session; the body's fields win
                session = merge_session(secret.session, body.session or {})
            version, mode, model_name = call_model_settings(
                session, query_model=request.query.get("model")
            )
        except CallBodyError as exc:
            return _error_response(
                400, str(exc), error_type="invalid_request_error", param=exc.param
            )
        if options.call_status_500:
            return _error_response(500, SERVER_ERROR_MESSAGE, error_type="server_error")
        call_id = f"rtc_{secrets.token_hex(16)}"
        call = Call(call_id, record, loopback_only=options.host in _LOOPBACK_HOSTS)
        model = self._host.new_model(
            version=version, mode=mode, model=model_name, audio_sink=call.play
        )
        try:
            return await self._answer(request, call, model, body.offer_sdp, session)
        except BaseException:  # cancelled or failed mid-answer: never leak the peer
            await call.aclose()
            raise

    async def _answer(
        self,
        request: web.Request,
        call: Call,
        model: ScriptedModel,
        offer_sdp: str,
        session: JsonDict | None,
    ) -> web.Response:
        options, record = self._host.options, call.record
        await call.configure(model, session)
        try:
            answer = await call.peer.answer(offer_sdp)
        except ProtocolError as exc:
            await call.aclose()
            return _error_response(
                400, f"Invalid SDP offer: {exc}", error_type="invalid_request_error", param="sdp"
            )
        if self._closing.is_set():  # aclose() ran while we answered: it cannot end this call
            await call.aclose()
            return _error_response(503, "The emulator is shutting down.", error_type="server_error")
        record.answer_sdp = answer
        headers = {
            "Content-Type": "application/sdp"
        }  # bare: no "; charset=" (aiohttp adds one to text=)
        if options.call_missing_location or options.call_location_without_id:
            await call.aclose()  # the client cannot join this call: do not keep it
            if options.call_location_without_id:
                headers["Location"] = request.path
        else:
            record.call_id = call.call_id
            headers["Location"] = f"/v1/realtime/calls/{call.call_id}"
            self._calls[call.call_id] = call
            self._host.register_call(call.call_id, model)
            await call.start()
            self._watch(call)
        return web.Response(status=201, body=answer.encode("utf-8"), headers=headers)

    # ---------------------------------------------------------------- teardown

    def _watch(self, call: Call) -> None:
        async def watch() -> None:
            await call.peer.wait_ended()
            self._begin_end(call.call_id)

        task = asyncio.ensure_future(watch())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def _begin_end(self, call_id: str) -> asyncio.Task[None] | None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return None

        async def teardown() -> None:
            await self._host.end_call(call_id)
            await call.aclose()
            logger.info("emulator realtime call ended", extra={"call_id": call_id})

        # A task of its own, so a caller that is cancelled cannot cut a teardown short.
        task = asyncio.ensure_future(teardown())
        self._teardowns.add(task)
        task.add_done_callback(self._teardowns.discard)
        return task

    def has(self, call_id: str) -> bool:
        """Whether ``call_id`` is a live WebRTC call."""
        return call_id in self._calls

    async def end(self, call_id: str) -> None:
        """End a call (hang-up) and wait for its teardown."""
        task = self._begin_end(call_id)
        if task is not None:
            await asyncio.shield(task)

    async def aclose(self) -> None:
        """End every call (bounded in time); idempotent."""
        for call_id in list(self._calls):
            self._begin_end(call_id)
        watchers = list(self._watchers)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        teardowns = list(self._teardowns)
        if teardowns:
            try:
                async with asyncio.timeout(_TEARDOWN_TIMEOUT_S):
                    await asyncio.gather(*teardowns, return_exceptions=True)
            except TimeoutError:
                logger.warning("emulator call teardown timed out; abandoning some calls")

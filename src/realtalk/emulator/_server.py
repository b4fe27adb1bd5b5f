"""The emulator's aiohttp application: realtime WebSocket routes, TLS, lifecycle.

Other emulator modules add their routes to :attr:`Emulator.app` before
:meth:`Emulator.start` (e.g. ``/v1/responses``); ``POST /v1/realtime/calls`` is
mounted here (:mod:`realtalk.emulator._calls`). A WebRTC call plugs in by creating a
model with :meth:`Emulator.new_model` and registering it with
:meth:`Emulator.register_call`; a sideband socket (``/v1/realtime?call_id=...``) then
attaches to that model instead of getting its own. Sideband knobs: total handshake
latency, refuse the first N handshakes, refuse all (HTTP 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from aiohttp import web

from realtalk._errors import ConfigError
from realtalk.emulator._beta import is_beta
from realtalk.emulator._call_control import CallControl, SipCall
from realtalk.emulator._calls import CallRecord, CallService, sleep_until
from realtalk.emulator._connection import FrameFlusher, RealtimeConnection
from realtalk.emulator._model import ScriptedModel
from realtalk.emulator._models import install_models
from realtalk.emulator._options import EmulatorOptions
from realtalk.emulator._record import RealtimeSessionRecord
from realtalk.emulator._responses import ResponsesEmulator
from realtalk.emulator._secrets import ClientSecrets, Secret
from realtalk.emulator._speech import AudioSink
from realtalk.emulator._wire import DEFAULT_MODEL, SessionMode, SessionVersion

__all__ = ["Emulator"]

logger = logging.getLogger(__name__)

_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_WS_CLOSE_TIMEOUT_S: Final = 2.0
_SHUTDOWN_TIMEOUT_S: Final = 5.0


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Emulator:
    """Offline OpenAI-compatible realtime server (see the package docs)."""

    def __init__(
        self, options: EmulatorOptions | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        """``clock`` (Unix seconds) decides when client secrets expire."""
        self.options = options or EmulatorOptions()
        self.app = web.Application()
        self.app.router.add_get("/v1/realtime", self._handle_realtime)
        self.app.router.add_get("/realtime", self._handle_realtime)
        self.sessions: list[RealtimeSessionRecord] = []
        self._sessions_changed = asyncio.Event()
        self._calls: dict[str, ScriptedModel] = {}
        self._connections: set[RealtimeConnection] = set()
        self._flusher = FrameFlusher()  # one write callback per loop turn for all sockets
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._tmpdir: str | None = None
        self._ca_path: str | None = None
        self._closed = False
        self._closing = asyncio.Event()
        self._sideband_refused = 0
        self.client_secrets = ClientSecrets(clock=clock, default_model=lambda: DEFAULT_MODEL)
        self.client_secrets.install(self.app)
        install_models(self.app)
        self._call_service = CallService(self, closing=self._closing)
        self._call_control = CallControl(self, self._call_service)
        # The background agent's model API lives on the same server.
        self.responses = ResponsesEmulator(self.options.responses, record=self.options.record)
        self.responses.install(self.app)

    # ------------------------------------------------------------------ URLs

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started; await start() first")
        return self._port

    @property
    def port(self) -> int:
        """The bound TCP port once started (useful with ``port=0``)."""
        return self._require_port()

    @property
    def base_url(self) -> str:
        """``http(s)://host:port/v1`` once started."""
        scheme = "https" if self.options.tls else "http"
        return f"{scheme}://{_format_host(self.options.host)}:{self._require_port()}/v1"

    @property
    def ws_base_url(self) -> str:
        """``ws(s)://host:port/v1`` once started."""
        scheme = "wss" if self.options.tls else "ws"
        return f"{scheme}://{_format_host(self.options.host)}:{self._require_port()}/v1"

    @property
    def ca_path(self) -> str | None:
        """PEM file of the CA that signed the server certificate (``tls=True``)."""
        return self._ca_path

    # --------------------------------------------------------------- plug-ins

    def new_model(
        self,
        *,
        version: SessionVersion = "v2",
        mode: SessionMode = "conversational",
        model: str | None = None,
        audio_sink: AudioSink | None = None,
    ) -> ScriptedModel:
        """A scripted model configured from this emulator's options."""
        return ScriptedModel(
            version=version,
            mode=mode,
            model=model,
            realtime_audio=self.options.audio_realtime,
            echo_audio=self.options.echo_audio,
            speech_transcripts=self.options.speech_transcripts,
            auto_respond_to_text=self.options.auto_respond_to_text,
            audio_sink=audio_sink,
        )

    def register_call(self, call_id: str, model: ScriptedModel) -> None:
        """Let sideband sockets with ``?call_id=<call_id>`` attach to ``model``."""
        self._calls[call_id] = model

    def unregister_call(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    async def end_call(self, call_id: str) -> None:
        """Unregister a call and close the sideband sockets attached to it."""
        model = self._calls.pop(call_id, None)
        attached = [c for c in self._connections if model is not None and c.model is model]
        if attached:
            await asyncio.gather(*(c.close(1000) for c in attached), return_exceptions=True)

    @property
    def calls(self) -> list[CallRecord]:
        """Every answered ``POST .../realtime/calls`` (``record=True`` only), in order."""
        return self._call_service.records

    def incoming_sip_call(
        self,
        *,
        from_uri: str = "sip:+15550100@example.com",
        to_uri: str = "sip:+15550199@example.com",
    ) -> SipCall:
        """Ring a SIP call for the application to accept, reject, refer or hang up."""
        return self._call_control.incoming(from_uri=from_uri, to_uri=to_uri)

    @property
    def sip_calls(self) -> list[SipCall]:
        """Every SIP call rung so far, in order."""
        return list(self._call_control.sip.values())

    async def wait_for_calls(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``n`` call creations were answered."""
        await self._call_service.wait_for_calls(n, timeout)

    # -------------------------------------------------------------- lifecycle

    def _tls_context(self) -> ssl.SSLContext:
        import trustme  # only with --tls: it loads cryptography (~45 ms)

        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._tmpdir = tempfile.mkdtemp(prefix="realtalk-emulator-")
        ca_file = Path(self._tmpdir) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        self._ca_path = str(ca_file)
        return context

    def _listen_socket(self) -> socket.socket:
        host, port = self.options.host, self.options.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.setblocking(False)  # noqa: FBT003 (stdlib signature)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"emulator cannot listen on {host}:{port}: {exc}; pick another --host/--port"
            ) from exc
        return sock

    async def start(self) -> str:
        """Start listening; returns :attr:`base_url`."""
        if self._closed:
            raise RuntimeError("the emulator was closed; create a new one")
        if self._runner is not None:
            return self.base_url
        ssl_context = self._tls_context() if self.options.tls else None
        sock = self._listen_socket()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"emulator failed to start serving: {exc}") from exc
        self._runner = runner
        self._port = int(sock.getsockname()[1])
        logger.info("emulator listening", extra={"base_url": self.base_url})
        return self.base_url

    async def aclose(self) -> None:
        """Close every socket and stop the server; idempotent, bounded in time."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        await self._call_service.aclose()
        await self._call_control.aclose()
        self._calls.clear()
        connections = list(self._connections)
        if connections:
            await asyncio.gather(*(c.close(1001) for c in connections), return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                async with asyncio.timeout(_SHUTDOWN_TIMEOUT_S):
                    await runner.cleanup()
            except TimeoutError:
                logger.warning("emulator shutdown timed out; some handlers were abandoned")
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def wait_for_sessions(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``n`` realtime sockets were accepted."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.sessions) < n:
                    await self._sessions_changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"only {len(self.sessions)} of {n} realtime sessions within {timeout}s"
            ) from None

    def _session_added(self, record: RealtimeSessionRecord) -> None:
        self.sessions.append(record)
        changed, self._sessions_changed = self._sessions_changed, asyncio.Event()
        changed.set()

    # ---------------------------------------------------------------- handler

    def _sideband_refusal(self) -> web.Response | None:
        options = self.options
        if not options.sideband_never and self._sideband_refused >= options.sideband_refuse_times:
            return None
        self._sideband_refused += 1
        error = {
            "type": "server_error",
            "code": "sideband_unavailable",
            "message": "The realtime call is not available for a sideband connection yet; "
            "retry shortly.",
            "param": None,
        }
        return web.json_response({"error": error}, status=503)

    async def _session_model(
        self, intent: str | None, model_name: str | None, secret: Secret | None
    ) -> ScriptedModel:
        """The model of a new socket (configured from its client secret, if any)."""
        if secret is not None:
            model = self.new_model(
                mode=secret.mode, model=model_name or str(secret.session.get("model"))
            )
            # Applied before any sink exists: nothing is emitted.
            await model.handle_client_event({"type": "session.update", "session": secret.session})
            return model
        return self.new_model(
            version="v1" if intent == "quicksilver" else "v2",
            mode="transcription" if intent == "transcription" else "conversational",
            model=model_name,
        )

    async def _handle_realtime(self, request: web.Request) -> web.StreamResponse:
        arrived = asyncio.get_running_loop().time()
        secret = self.client_secrets.check(request)
        if isinstance(secret, web.Response):
            return secret
        query = request.query
        call_id = query.get("call_id")
        attached: ScriptedModel | None = None
        if call_id is not None:
            attached = self._calls.get(call_id)
            if attached is None:
                error = {
                    "type": "invalid_request_error",
                    "code": "call_not_found",
                    "message": f"No realtime call with id '{call_id}'.",
                    "param": "call_id",
                }
                return web.json_response({"error": error}, status=404)
            self._call_service.note_sideband(call_id, None)
            refusal = self._sideband_refusal()
            if refusal is not None:
                self._call_service.note_sideband(call_id, "refused")
                return refusal
        if self._closed:
            raise web.HTTPServiceUnavailable(text="emulator is shutting down")
        latency_ms = self.options.handshake_latency_ms
        if call_id is not None:
            latency_ms = max(latency_ms, self.options.sideband_latency_ms)
        if latency_ms:
            await sleep_until(arrived + latency_ms / 1000, self._closing)
        if self._closed:
            raise web.HTTPServiceUnavailable(text="emulator is shutting down")
        if call_id is not None and (request.transport is None or request.transport.is_closing()):
            # The client gave up during the latency: no handshake, nothing recorded.
            self._call_service.note_sideband(call_id, "abandoned")
            return web.Response(status=408)
        if attached is not None and self._calls.get(call_id or "") is not attached:
            raise web.HTTPNotFound(text="the realtime call ended")
        intent = query.get("intent")
        if attached is not None:
            model = attached
        else:
            model = await self._session_model(intent, query.get("model"), secret)
        ws = web.WebSocketResponse(
            protocols=("realtime",),  # browsers offer it (with their key) as a subprotocol
            compress=False,
            timeout=_WS_CLOSE_TIMEOUT_S,
            max_msg_size=_MAX_MESSAGE_BYTES,
            decode_text=False,
        )
        await ws.prepare(request)
        beta = model.version == "v2" and is_beta(request.headers.get("OpenAI-Beta"))
        record = RealtimeSessionRecord(
            path_qs=request.path_qs,
            headers=dict(request.headers),
            version=model.version,
            call_id=call_id,
            record=self.options.record,
            beta=beta,
        )
        connection = RealtimeConnection(
            ws,
            record,
            model,
            self.options,
            transport=request.transport,
            beta=beta,
            flusher=self._flusher,
        )
        self._connections.add(connection)
        self._session_added(record)
        if call_id is not None:
            self._call_service.note_sideband(call_id, "accepted")
        logger.info(
            "emulator realtime session accepted",
            extra={"path": request.path, "version": model.version, "call_id": call_id},
        )
        try:
            await connection.serve(start_model=attached is None)
            if connection.expired and call_id is not None:
                await self._call_service.end(call_id)  # a call ends with its session
        finally:
            if attached is None:
                await model.aclose()
            with contextlib.suppress(Exception):
                await connection.close()
            self._connections.discard(connection)
            record.note_closed()
        return ws

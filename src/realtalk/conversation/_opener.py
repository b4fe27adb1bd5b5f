"""Opening a realtime session: preflight, the WebSocket, the WebRTC call and its sideband.

Every way the manager starts a session goes through :class:`SessionOpener`:

* :meth:`SessionOpener.prepare` gathers the startup context and builds the session's
  settings, headers and URL; what can fail without the network fails here (reference
  1.3: preflight first), before a running conversation is replaced;
* :meth:`SessionOpener.websocket` connects and sends ``session.update``: a start over
  WebSocket, and every attempt of a renewal (``_renewal``);
* :meth:`SessionOpener.call` posts the WebRTC offer, and :meth:`SessionOpener.sideband`
  joins the call's sideband WebSocket by ``call_id`` (with retries: the call may not be
  joinable yet), off the start's critical path: the runtime's reader does it.

A socket whose ``session.update`` could not be sent (an error, or a cancelled start) is
aborted, never leaked.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from realtalk._config import Settings
from realtalk._errors import ConfigError, RealtalkError
from realtalk._logging import StepTimer
from realtalk.conversation._context import ThreadHistory, gather_startup_context
from realtalk.conversation._runtime import backoff_delay
from realtalk.conversation._types import StartParams
from realtalk.protocol import (
    DEFAULT_BACKEND_PROMPT,
    ServerEventParser,
    SessionConfig,
    build_instructions,
    call_session_json,
    realtime_headers,
    realtime_ws_url,
    resolve_backend_prompt,
    resolve_voice,
    session_update,
    validate_preflight,
)
from realtalk.transports import (
    CallResult,
    RealtimeConnection,
    WireTap,
    connect_realtime,
    create_call,
)

__all__ = ["Prepared", "SessionOpener"]

logger = logging.getLogger("realtalk.conversation")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A start that passed preflight: the session's settings, headers and URL."""

    config: SessionConfig
    headers: dict[str, str]
    url: str


class SessionOpener:
    """Opens realtime sessions with one manager's settings and wire tap."""

    def __init__(
        self,
        settings: Settings,
        *,
        tap: WireTap | None,
        workspace: Path | None = None,
        thread_history: ThreadHistory | None = None,
    ) -> None:
        self._settings = settings
        self._tap = tap
        self._workspace = workspace
        self._thread_history = thread_history

    async def prepare(self, params: StartParams, *, thread_id: str, webrtc: bool) -> Prepared:
        """Everything a start needs before the network; raises when something is invalid.

        A WebRTC start does not require an API key here, and its URL names no model.
        """
        config = self.config(params, await self._startup_context(), thread_id=thread_id)
        headers = self.headers(config, require_key=not webrtc)
        url = realtime_ws_url(
            self._settings.ws_base_url,
            version=config.version,
            mode=config.mode,
            model=None if webrtc else config.model,
        )
        return Prepared(config, headers, url)

    async def _startup_context(self) -> str:
        if self._settings.startup_context is not None:
            return self._settings.startup_context
        return await gather_startup_context(self._workspace, self._thread_history)

    def config(self, params: StartParams, context: str, *, thread_id: str) -> SessionConfig:
        """The session's settings from ``params`` over the manager's; raises when invalid."""
        s = self._settings
        version = params.version or s.version
        voice = resolve_voice(version, params.voice, s.voice)
        request_prompt = params.prompt
        prompt = resolve_backend_prompt(s.backend_prompt, request_prompt, DEFAULT_BACKEND_PROMPT)
        config = SessionConfig(
            instructions=build_instructions(prompt, context),
            model=params.model or s.model,
            version=version,
            mode=params.mode or s.mode,
            output_modality=params.output_modality or s.output_modality,
            voice=voice,
            session_id=params.realtime_session_id or thread_id,
            server_vad=not s.push_to_talk,
        )
        validate_preflight(config)
        return config

    def headers(self, config: SessionConfig, *, require_key: bool) -> dict[str, str]:
        key = self._settings.api_key
        if require_key and not key:
            raise ConfigError("realtime conversation requires API key auth")
        assert config.session_id is not None
        return realtime_headers(config.version, api_key=key, session_id=config.session_id)

    async def websocket(
        self,
        url: str,
        headers: dict[str, str],
        config: SessionConfig,
        *,
        timer: StepTimer | None = None,
    ) -> RealtimeConnection:
        """Connect and send ``session.update`` (``timer``: step when connected)."""
        conn = await self._connect(url, headers, config)
        if timer is not None:
            timer.step("websocket connected")
        return await _configure(conn, config)

    async def _connect(
        self, url: str, headers: dict[str, str], config: SessionConfig
    ) -> RealtimeConnection:
        return await connect_realtime(
            url,
            headers,
            ServerEventParser(config.version),
            open_timeout=self._settings.connect_timeout_s,
            tap=self._tap,
        )

    async def call(self, config: SessionConfig, headers: dict[str, str], offer: str) -> CallResult:
        """Create the WebRTC call: post the SDP offer, get the answer and ``call_id``."""
        return await create_call(
            self._settings.base_url,
            offer_sdp=offer,
            session_json=call_session_json(config),
            headers=headers,
            timeout=self._settings.connect_timeout_s,
        )

    async def sideband(
        self, config: SessionConfig, headers: dict[str, str], call_id: str
    ) -> RealtimeConnection:
        """Join the call's sideband WebSocket (connecting is retried with backoff)."""
        url = realtime_ws_url(
            self._settings.ws_base_url,
            version=config.version,
            mode=config.mode,
            model=None,
            call_id=call_id,
        )
        attempts = self._settings.sideband_max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                conn = await self._connect(url, headers, config)
            except RealtalkError as exc:
                if attempt >= attempts:
                    logger.warning("failed to connect realtime sideband: %s", exc)
                    raise
                delay = backoff_delay(attempt, self._settings.sideband_retry_base_ms)
                logger.warning(
                    "realtime sideband websocket connect failed; retrying: %s",
                    exc,
                    extra={"attempt": attempt, "call_id": call_id, "delay_ms": delay * 1000},
                )
                await asyncio.sleep(delay)
                continue
            return await _configure(conn, config)
        raise AssertionError("unreachable")  # pragma: no cover


async def _configure(conn: RealtimeConnection, config: SessionConfig) -> RealtimeConnection:
    """Send ``session.update`` on a new socket; on any failure the socket is aborted."""
    try:
        await conn.send(session_update(config))
    except BaseException:  # an error or a cancelled start: do not leak the socket
        conn.abort()
        raise
    return conn

"""The session-scoped Responses model client: preconnect slot, connect path, HTTP latch.

Objects and lifetimes:

* :class:`ModelClient`, one per conversation session. It owns the startup
  preconnect (one background handshake-only WebSocket, single slot, single use),
  the session-sticky HTTP fallback latch, the HTTP client session and every
  background task it starts; :meth:`ModelClient.aclose` cancels and awaits them.
* :class:`~realtalk.agent._model_session.ModelClientSession`, one per turn
  (:meth:`ModelClient.new_session`, no I/O). It owns the turn's socket and sticky
  turn-state token and runs the retry/fallback loop. Never reuse it across turns.

Preconnect: :meth:`ModelClient.pre_establish_connection` starts one attempt, with no
retries; its failure is logged, never raised. The first turn adopts the warmed
socket, or waits for the attempt still in flight instead of opening a second
socket. A failed preconnect does not consume the turn's retry budget. An HTTP 426
answer to any upgrade, including the preconnect's, switches the client to HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Final

import aiohttp

from realtalk._errors import AgentError, RealtalkError
from realtalk._secrets import register_secret
from realtalk._ws_connect import WebSocket
from realtalk.agent._model_options import ModelClientOptions
from realtalk.agent._model_session import ModelClientSession, Warmed
from realtalk.agent._transport import TurnStateCell, connect_websocket, is_upgrade_required
from realtalk.agent._turn_metadata import turn_metadata_header
from realtalk.protocol import check_api_key
from realtalk.protocol.responses import (
    FALLBACK_WARNING,
    OPENAI_BETA_HEADER,
    SESSION_ID_HEADER,
    TURN_METADATA_HEADER,
    TURN_STATE_HEADER,
    Action,
    PreconnectSlot,
    PreconnectState,
    responses_url,
    websocket_url,
)

__all__ = ["ModelClient"]

logger = logging.getLogger(__name__)

_CLOSE_TASK: Final = "realtalk-responses-close"


class ModelClient:
    """Session-scoped Responses API client (WebSocket first, HTTP + SSE fallback)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        session_id: str | None = None,
        options: ModelClientOptions | None = None,
    ) -> None:
        """Configure the client; no I/O happens here.

        Args:
            base_url: API base, e.g. ``https://api.openai.com/v1`` (``/responses`` is added).
            api_key: Bearer token; never logged.
            session_id: Conversation id sent as ``session_id`` and used as the
                prompt cache key (default: a random UUID).
            options: Timeouts, retries and switches.

        Raises:
            ConfigError: The base URL has an unsupported scheme, or the key a control
                character.
        """
        if api_key:
            check_api_key(api_key)
            register_secret(api_key)  # scrubbed from every message and log line from now on
        self._options = options or ModelClientOptions()
        self._http_url = responses_url(base_url)
        self._ws_url = websocket_url(self._http_url)
        self._api_key = api_key
        self._session_id = session_id or str(uuid.uuid4())
        self._ws_disabled = not self._options.websockets_enabled
        self._slot: PreconnectSlot[asyncio.Task[None], Warmed] = PreconnectSlot()
        self._preconnect_started = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._sessions: set[ModelClientSession] = set()
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    # -- public --------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The conversation id sent with every request."""
        return self._session_id

    @property
    def options(self) -> ModelClientOptions:
        """The client's options."""
        return self._options

    @property
    def http_url(self) -> str:
        """``<base>/responses`` (HTTP form)."""
        return self._http_url

    @property
    def uses_http(self) -> bool:
        """True once requests go over HTTP + SSE (fallback latched or WebSockets off)."""
        return self._ws_disabled

    @property
    def preconnect_state(self) -> PreconnectState:
        """State of the preconnect slot (for diagnostics and tests)."""
        return self._slot.state

    async def pre_establish_connection(self) -> None:
        """Start warming one WebSocket in the background (handshake only) and return.

        Call once at session start. A no-op when WebSockets are off, when HTTP
        fallback is active, or on a second call. Failures are logged, never raised.
        """
        if self._closed or self._ws_disabled or self._preconnect_started:
            return
        self._preconnect_started = True
        task = asyncio.create_task(self._preconnect(), name="realtalk-responses-preconnect")
        self._own(task)
        out = self._slot.start(task)
        if out.action in (Action.CANCEL_PREVIOUS, Action.CANCEL_NEW) and out.handle is not None:
            out.handle.cancel()

    async def wait_for_preconnect(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) for an in-flight preconnect; True if one is ready."""
        handle = self._slot.pending()
        if handle is not None:
            await asyncio.wait({handle}, timeout=timeout_s)
        return self._slot.state is PreconnectState.READY

    def new_session(self) -> ModelClientSession:
        """A fresh turn-scoped session (no I/O). Use one per turn.

        Raises:
            AgentError: The client is closed.
        """
        if self._closed:
            raise AgentError("the model client is closed; start a new session")
        session = ModelClientSession(self)
        self._sessions.add(session)
        return session

    async def aclose(self) -> None:
        """Close sockets, cancel and await background tasks, close HTTP. Idempotent.

        Every step runs even if this call is cancelled meanwhile (the cancellation is
        re-raised after); a repeated call finishes whatever is still open.
        """
        self._closed = True
        self._clear_preconnect()
        try:
            for session in list(self._sessions):
                await session.aclose()
        finally:
            try:
                # Cancelled tasks may spawn socket closes while they unwind: loop until
                # none is left. Close tasks are not cancelled; WebSocket.aclose
                # bounds them (close timeout). asyncio.wait, unlike gather, never cancels them.
                while self._tasks:
                    tasks = set(self._tasks)
                    for task in tasks:
                        if task.get_name() != _CLOSE_TASK:
                            task.cancel()
                    await asyncio.wait(tasks)
            finally:
                http, self._http = self._http, None
                if http is not None:
                    await http.close()

    # -- used by ModelClientSession -------------------------------------------------

    def _forget_session(self, session: ModelClientSession) -> None:
        self._sessions.discard(session)

    def _take_preconnected(self) -> Warmed | None:
        return self._slot.take()

    def _pending_preconnect(self) -> asyncio.Task[None] | None:
        return self._slot.pending()

    async def _wait_for_pending(self, task: asyncio.Task[None]) -> None:
        # The attempt is bounded by its own connect timeout plus the metadata budget.
        limit = self._options.connect_timeout_s + self._options.turn_metadata_budget_s + 1.0
        await asyncio.wait({task}, timeout=limit)

    def _clear_preconnect(self) -> None:
        out = self._slot.clear()
        current = asyncio.current_task()
        if out.action is Action.CANCEL_TRACKED and out.handle is not None:
            if out.handle is not current:
                out.handle.cancel()
        elif out.action is Action.CLOSE_WARMED and out.warmed is not None:
            self._close_later(out.warmed.connection)

    def _switch_to_http(self, reason: BaseException) -> bool:
        """Latch the HTTP fallback (first caller wins) and drop preconnect state."""
        if self._ws_disabled:
            return False
        self._ws_disabled = True
        logger.warning(
            "%s %s",
            FALLBACK_WARNING,
            reason,
            extra={"session_id": self._session_id, "from_transport": "responses_websocket"},
        )
        self._clear_preconnect()
        return True

    def _close_later(self, ws: WebSocket) -> None:
        """Close ``ws`` in an owned background task (callers may be synchronous)."""
        self._own(asyncio.create_task(_close_quietly(ws), name=_CLOSE_TASK))

    async def _connect_ws(self, cell: TurnStateCell | None, metadata: str | None) -> WebSocket:
        headers = {OPENAI_BETA_HEADER: self._options.websocket_beta}
        headers.update(self._conversation_headers(cell, metadata))
        return await connect_websocket(
            self._ws_url,
            headers,
            cell,
            connect_timeout_s=self._options.connect_timeout_s,
            max_message_bytes=self._options.max_message_bytes,
        )

    def _conversation_headers(
        self, cell: TurnStateCell | None, metadata: str | None
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        headers[SESSION_ID_HEADER] = self._session_id
        if cell is not None and cell.value is not None:
            headers[TURN_STATE_HEADER] = cell.value
        if metadata is not None:
            headers[TURN_METADATA_HEADER] = metadata
        return headers

    async def _turn_metadata(self) -> str | None:
        return await turn_metadata_header(
            self._options.workspace, budget_s=self._options.turn_metadata_budget_s
        )

    def _http_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise AgentError("the model client is closed; start a new session")
        if self._http is None:
            # Proxies come from realtalk._proxy per request, not trust_env (see there).
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self._http

    # -- internals -----------------------------------------------------------------

    def _own(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _preconnect(self) -> None:
        """One best-effort handshake, no retries, no request payload."""
        me = asyncio.current_task()
        assert me is not None
        warmed: Warmed | None = None
        try:
            metadata = await self._turn_metadata()
            cell = TurnStateCell()
            ws = await self._connect_ws(cell, metadata)
            warmed = Warmed(ws, cell.value)
            logger.debug("responses websocket preconnected", extra={"session_id": self._session_id})
        except RealtalkError as exc:
            if is_upgrade_required(exc):
                self._switch_to_http(exc)
            else:
                logger.info(
                    "responses websocket preconnect failed; the first turn will connect itself: %s",
                    exc,
                    extra={"session_id": self._session_id},
                )
        except Exception:
            logger.warning("responses websocket preconnect failed unexpectedly", exc_info=True)
        finally:
            out = self._slot.finished(me, warmed)
            if out.action is Action.DISCARD_RESULT and out.warmed is not None:
                self._close_later(out.warmed.connection)


async def _close_quietly(ws: WebSocket) -> None:
    with contextlib.suppress(Exception):
        await ws.aclose()

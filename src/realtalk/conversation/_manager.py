"""The conversation manager: start / replace / close, inputs, events out.

At most one conversation runs per manager (reference 1.1). ``start`` never raises
for conversation failures: preflight, connect and call-creation errors become a
single ``Realtime(ErrorEvent)`` with no ``Started``/``Closed`` (reference 7).
Inputs while idle raise :class:`ConversationNotRunningError`. Sessions are opened by
``_opener`` (preflight, the WebSocket, the WebRTC call and its sideband), events go
out through ``_subscription`` (one bounded stream per subscriber).

A conversation outlives its realtime session (WebSocket; ``reconnect_max_retries`` >
0): when the session ends under it, a new runtime takes its place at once, with a core
restored from the old one's snapshot, and connects in its reader (``_renewal``). Input
and agent events that arrive meanwhile wait in the new core; a call that raced the end
of the old core is applied to the new one (``_apply``). Subscribers see
``Reconnecting`` then ``Reconnected`` (or an error and ``Closed`` after the last
attempt), never a second ``Started``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from realtalk._config import Settings
from realtalk._errors import ConversationNotRunningError, RealtalkError
from realtalk._logging import StepTimer
from realtalk.agent import BackgroundAgent
from realtalk.conversation._agent_link import AgentLink
from realtalk.conversation._context import ThreadHistory
from realtalk.conversation._opener import SessionOpener
from realtalk.conversation._renewal import Reconnector, rotation_window, webrtc_message
from realtalk.conversation._runtime import AgentOrder, ConversationRuntime
from realtalk.conversation._subscription import Sink, Subscribers, Subscription
from realtalk.conversation._types import (
    Closed,
    CloseReason,
    Realtime,
    Reconnecting,
    SdpAnswer,
    Started,
    StartParams,
    WebRtcTransport,
)
from realtalk.protocol import (
    AudioFrame,
    ConversationCore,
    EndReason,
    ErrorEvent,
    Media,
    PlaybackClock,
    SessionConfig,
    Version,
)
from realtalk.transports import RealtimeConnection, WireTap

__all__ = ["ConversationManager", "Subscription"]

logger = logging.getLogger("realtalk.conversation")


class ConversationManager:
    """Runs realtime conversations for one thread, one at a time."""

    def __init__(
        self,
        settings: Settings,
        *,
        agent: BackgroundAgent | None = None,
        tap: WireTap | None = None,
        thread_id: str | None = None,
        workspace: Path | None = None,
        playback: PlaybackClock | None = None,
        thread_history: ThreadHistory | None = None,
    ) -> None:
        """``playback``: the player of the assistant's WebSocket audio, if this process
        plays it (a speaker): barge-in then truncates at *its* played position instead
        of the wall-clock estimate. ``thread_history`` gives the thread's turns for the
        startup context."""
        self.settings = settings
        self.agent = agent
        self.thread_id = thread_id or f"thread_{uuid.uuid4().hex[:12]}"
        self._playback = playback
        self._state: ConversationRuntime | None = None
        self._subscribers = Subscribers()
        self._emit = self._subscribers.emit
        self._lock = asyncio.Lock()
        self._agent_link = AgentLink(
            agent, emit=self._emit, deliver=self._deliver, name=self.thread_id
        )
        self._opener = SessionOpener(
            settings, tap=tap, workspace=workspace, thread_history=thread_history
        )
        self._reconnector = Reconnector(settings, opener=self._opener, emit=self._emit)
        # Conversations that ended by themselves and are still closing their socket.
        self._finishing: set[asyncio.Future[None]] = set()
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- events

    def subscribe(self, sink: Sink | None = None) -> Subscription:
        """A stream of this manager's events (read it, or close it).

        ``sink``: an optional synchronous fast path, called with an event while the
        reader waits with nothing queued; True means it took the event (the reader never
        sees it), False queues it for the reader. It must not block or raise.
        """
        return self._subscribers.subscribe(sink)

    @property
    def running(self) -> bool:
        return self._state is not None and self._state.active

    @property
    def running_version(self) -> Version | None:
        return self._state.version if self.running and self._state is not None else None

    # ---------------------------------------------------------------- start

    async def start(self, params: StartParams | None = None) -> None:
        """Start a conversation, replacing any running one. Outcomes arrive as events."""
        params = params or StartParams()
        timer = StepTimer(logger, "realtime start")
        async with self._lock:
            if self._closed:
                raise ConversationNotRunningError(
                    "this conversation manager is closed; create a new one to start again"
                )
            # Without an offer there is no WebRTC peer to answer, whatever
            # settings.transport says: a bare start uses the WebSocket transport.
            webrtc = isinstance(params.transport, WebRtcTransport)
            try:
                # Everything that can fail without the network fails here, before the
                # running conversation is replaced (reference 1.3: preflight first).
                prepared = await self._opener.prepare(
                    params, thread_id=self.thread_id, webrtc=webrtc
                )
            except RealtalkError as exc:
                logger.error("failed to prepare realtime conversation: %s", exc)
                await self._emit(Realtime(ErrorEvent(str(exc))))
                return
            config, headers = prepared.config, prepared.headers
            timer.step("prepared", version=config.version.value)
            logger.info("starting realtime conversation")
            await self._stop_current(emit_closed=False)
            if isinstance(params.transport, WebRtcTransport):
                await self._start_webrtc(config, headers, params.transport.sdp, timer)
            else:
                await self._start_websocket(config, headers, prepared.url, timer)

    async def _start_websocket(
        self, config: SessionConfig, headers: dict[str, str], url: str, timer: StepTimer
    ) -> None:
        try:
            conn = await self._opener.websocket(url, headers, config, timer=timer)
        except RealtalkError as exc:
            logger.error("failed to start realtime conversation: %s", exc)
            await self._emit(Realtime(ErrorEvent(str(exc))))
            return
        timer.step("session.update sent")
        runtime = self._runtime(config, Media.WEBSOCKET)
        runtime.conn = conn
        runtime.start_io(None, rotate=self._rotation())
        if not await self._install(runtime):
            return
        logger.info("realtime conversation started")
        assert config.session_id is not None
        await self._emit(Started(config.session_id, config.version))
        timer.step("started emitted")
        runtime.live.set()

    async def _start_webrtc(
        self, config: SessionConfig, headers: dict[str, str], offer: str, timer: StepTimer
    ) -> None:
        try:
            call = await self._opener.call(config, headers, offer)
        except RealtalkError as exc:
            logger.error("failed to start realtime conversation: %s", exc)
            await self._emit(Realtime(ErrorEvent(str(exc))))
            return
        timer.step("call created", call_id=call.call_id)
        runtime = self._runtime(config, Media.WEBRTC)

        async def join() -> RealtimeConnection:
            conn = await self._opener.sideband(config, headers, call.call_id)
            timer.step("sideband connected", call_id=call.call_id)
            return conn

        runtime.start_io(join)
        if not await self._install(runtime):
            return
        logger.info("realtime conversation started")
        assert config.session_id is not None
        await self._emit(Started(config.session_id, config.version))
        await self._emit(SdpAnswer(call.answer_sdp))
        timer.step("started and sdp emitted")
        runtime.live.set()

    def _runtime(self, config: SessionConfig, media: Media) -> ConversationRuntime:
        assert config.session_id is not None
        core = ConversationCore(
            config.version,
            mode=config.mode,
            media=media,
            playback=self._playback if media is Media.WEBSOCKET else None,
            resumable=self.settings.reconnect_max_retries > 0,
        )
        return ConversationRuntime(
            core,
            session_id=config.session_id,
            emit=self._emit,
            route=self._route_handoff,
            on_end=self._conversation_ended,
            config=config,
        )

    def _rotation(self) -> tuple[float, float] | None:
        if self.settings.reconnect_max_retries <= 0:
            return None
        return rotation_window(self.settings.rotate_after_s)

    async def _install(self, runtime: ConversationRuntime) -> bool:
        """Make ``runtime`` the running conversation; False (and stop it) if closed meanwhile.

        ``aclose`` does not wait for an in-flight start (that could take a connect
        timeout), so a start that finishes after it must not leave a live conversation.
        """
        if self._closed:
            logger.info("conversation manager closed while starting; dropping the new conversation")
            await runtime.stop(send_close=True)
            return False
        self._state = runtime
        self._agent_link.ensure_running()
        return True

    # ---------------------------------------------------------------- pump callbacks

    async def _conversation_ended(self, runtime: ConversationRuntime, end: EndReason) -> None:
        """The core ended the conversation (server close, error, failed send or join), or
        its session (``session_lost``: a new session continues, if it can)."""
        if not runtime.active:
            return
        reason: CloseReason = "error" if end == "session_lost" else end
        lost = runtime.core.lost
        if lost is not None and lost.cause == "closed":
            reason = "transport_closed"  # as without reconnecting (WebRTC, or closing)
        renewable = end == "session_lost" and self._state is runtime and not self._closed
        if renewable and await self._renew(runtime):
            return
        if reason == "transport_closed":
            logger.info("realtime conversation transport closed")
        if self._state is runtime:
            self._state = None
        # Closed goes out before the (up to 2 s) socket close: a start in that window
        # must not see this conversation's Closed arrive after its own Started. The
        # runtime's reader has stopped, so nothing of this conversation follows.
        await self._emit(Closed(reason))
        await self._retire(runtime, send_close=True)

    async def _retire(self, runtime: ConversationRuntime, *, send_close: bool) -> None:
        finishing = asyncio.ensure_future(runtime.stop(send_close=send_close))
        self._finishing.add(finishing)
        finishing.add_done_callback(self._finishing.discard)
        await asyncio.shield(finishing)

    async def _renew(self, old: ConversationRuntime) -> bool:
        """Put a new session under ``old``'s conversation (see ``_renewal``).

        True: the successor runs (it connects in its reader). False: the conversation
        ends (WebRTC, said in an error first).
        """
        lost, base = old.core.lost, old.config
        assert lost is not None and base is not None
        if old.core.media is Media.WEBRTC:
            logger.warning("realtime call ended; WebRTC cannot continue in a new session")
            await self._emit(Realtime(ErrorEvent(webrtc_message(lost))))
            return False
        runtime = self._runtime(base, Media.WEBSOCKET)
        connector = self._reconnector.restore(
            old, runtime, headers=lambda config: self._opener.headers(config, require_key=False)
        )
        self._state = runtime
        runtime.live.set()  # a continuation: Started was emitted for the conversation
        await self._emit(Reconnecting(lost.cause, lost.detail))
        runtime.start_io(connector, rotate=self._rotation())
        await self._retire(old, send_close=lost.cause == "rotation")
        await runtime.flush_outputs()  # e.g. the end of a turn the old session left open
        return True

    async def _route_handoff(self, runtime: ConversationRuntime, order: AgentOrder) -> None:
        # The link's submitter hands it over: the reader never waits for the agent,
        # so audio and transcripts keep flowing however slow the agent is to accept.
        await self._agent_link.route(runtime, order)

    # ---------------------------------------------------------------- inputs

    def _require_running(self) -> ConversationRuntime:
        state = self._state
        if state is None or not state.active:
            raise ConversationNotRunningError()
        return state

    async def _apply(self, call: Callable[[ConversationRuntime], Awaitable[bool]]) -> bool:
        """``call`` on the running conversation; if its session was just lost, on the
        runtime that replaces it. False: no conversation took it."""
        runtime = self._state
        while runtime is not None and runtime.active:
            if await call(runtime):
                return True
            if runtime.core.end_reason != "session_lost":
                return False
            await runtime.stopped.wait()  # the end is handled: replaced, or closed
            if self._state is runtime:
                return False
            runtime = self._state
        return False

    async def _deliver(self, call: Callable[[ConversationRuntime], Awaitable[bool]]) -> bool:
        return await self._apply(call)

    async def audio_in(self, frame: AudioFrame) -> None:
        """Queue one audio frame (dropped with a warning when the queue is full)."""
        runtime = self._require_running()
        if not runtime.offer_audio(frame) and runtime.core.end_reason == "session_lost":
            successor = self._state
            if successor is not None and successor is not runtime:
                successor.offer_audio(frame)

    async def text_in(self, text: str) -> None:
        """Queue user text (awaits while too many messages wait to be sent)."""
        self._require_running()
        if not await self._apply(lambda runtime: runtime.text_in(text)):
            raise ConversationNotRunningError()

    async def request_response(self) -> None:
        """Ask the model to respond (after the text queued so far).

        Typed text alone is append-only (reference 4.5); a client that wants an
        answer to it calls this. On v2 it goes through the response.create queue,
        so it never collides with an active response.
        """
        self._require_running()
        if not await self._apply(lambda runtime: runtime.request_response()):
            raise ConversationNotRunningError()

    async def cancel_delegation(self) -> bool:
        """Cancel the running delegation: the person asked to stop the agent's task.

        The model is told at once (it says the task was cancelled) and the agent's
        task is stopped, its processes killed. Returns False when no delegation was
        running (nothing is sent). A console binds this to a key; the app-server
        serves it as ``thread/realtime/cancelHandoff``.

        Raises:
            ConversationNotRunningError: No conversation is running.
        """
        cancelled = await self._require_running().cancel_delegation()
        if cancelled is None:
            raise ConversationNotRunningError()
        return cancelled

    async def push_to_talk(self, *, talking: bool) -> bool:
        """Push-to-talk: the person starts (``talking``) or ends a spoken turn.

        Starting stops the assistant and clears the input audio; ending commits what
        was said and asks for the answer. False: nothing was sent (no audio yet)."""
        return await self._require_running().push_to_talk(talking=talking)

    async def interrupt(self) -> bool:
        """Stop the assistant now (a key, not speech): cancel its answer and cut it where
        it was heard, by the barge-in rules. False: nothing was playing or pending."""
        return await self._require_running().interrupt()

    # ---------------------------------------------------------------- close

    async def _stop_current(self, *, emit_closed: bool) -> None:
        state, self._state = self._state, None
        if state is not None:
            await state.stop(send_close=emit_closed)

    async def close(self) -> None:
        """Stop the running conversation (if any) and emit ``Closed{requested}``."""
        async with self._lock:
            await self._stop_current(emit_closed=True)
        await self._emit(Closed("requested"))

    async def aclose(self) -> None:
        """Shut down without emitting events; closes subscriptions. Idempotent.

        The teardown runs once, in its own task: a caller cancelled half-way does not
        leave the agent tasks or the subscriptions behind, and every call waits for it.
        """
        if self._close_task is None:
            self._closed = True
            self._close_task = asyncio.ensure_future(self._teardown())
        await asyncio.shield(self._close_task)

    async def _teardown(self) -> None:
        try:
            await self._stop_current(emit_closed=True)
            if self._finishing:
                await asyncio.wait(set(self._finishing))
        finally:
            await self._agent_link.aclose()
            self._subscribers.close()

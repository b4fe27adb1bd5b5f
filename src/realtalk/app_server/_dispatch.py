"""Request handlers of one connection: initialize, threads, turns, realtime.

Realtime requests answer ``{}`` first; what happens next arrives as
``thread/realtime/*`` notifications (reference 5.2). Audio or text while no
conversation runs is a ``thread/realtime/error`` notification ("conversation is
not running"), not an RPC error. ``appendText`` is append-only: it never asks the
model for a response; ``requestResponse`` (a realtalk extension) does, after the
text appended so far, through the same queue a handoff result uses.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import realtalk
from realtalk._config import Settings
from realtalk._errors import ConfigError, ConversationNotRunningError
from realtalk.app_server._api import (
    EmptyParams,
    EmptyResult,
    InitializeParams,
    InitializeResult,
    RealtimeTransportWebrtc,
    RealtimeVoices,
    ThreadRealtimeAppendAudioParams,
    ThreadRealtimeAppendTextParams,
    ThreadRealtimeCancelHandoffParams,
    ThreadRealtimeCancelHandoffResult,
    ThreadRealtimeErrorNotification,
    ThreadRealtimeListVoicesResult,
    ThreadRealtimeRequestResponseParams,
    ThreadRealtimeStartParams,
    ThreadRealtimeStopParams,
    ThreadResumeParams,
    ThreadStartedNotification,
    ThreadStartParams,
    ThreadStartResult,
    Turn,
    TurnInterruptParams,
    TurnStartParams,
    TurnStartResult,
    TurnSteerParams,
    TurnSteerResult,
    UserInput,
)
from realtalk.app_server._connection import Connection, RequestError, invalid_request, overloaded
from realtalk.app_server._lifecycle import (
    ThreadLifecycle,
    ThreadRegistry,
    instructions_of,
    thread_settings,
)
from realtalk.app_server._methods import NotificationMethod, RequestMethod
from realtalk.app_server._store import ThreadStore
from realtalk.app_server._store_memory import MemoryThreadStore
from realtalk.app_server._thread_settings import (
    APPROVAL_WIRE,
    SANDBOX_WIRE,
    resolve_cwd,
    thread_safety,
)
from realtalk.app_server._threads import (
    AgentFactory,
    ThreadConfig,
    ThreadHandle,
    responses_agent_factory,
)
from realtalk.conversation import StartParams, WebRtcTransport, WebSocketTransport
from realtalk.protocol import (
    INVALID_PARAMS,
    V1_VOICES,
    V2_VOICES,
    AudioFrame,
    RequestId,
    Version,
    default_voice,
    is_valid_header_value,
)

__all__ = ["AppServerOptions", "Dispatcher"]

logger = logging.getLogger(__name__)

INLINE_WHEN_IDLE = frozenset({RequestMethod.REALTIME_APPEND_AUDIO})
"""Requests that never wait on the conversation, run by the reader when their thread is idle."""


@dataclass(frozen=True, kw_only=True)
class AppServerOptions:
    """Server-wide knobs (the defaults suit production)."""

    default_cwd: Path | None = None
    """Workspace of threads that do not name one (default: the process cwd)."""
    model_provider: str = "openai"
    agent_factory: AgentFactory = field(default=responses_agent_factory)
    store: ThreadStore | None = None
    """Where threads are stored (the caller opens and closes it); None: in memory only."""


class _HasThreadId(Protocol):
    @property
    def thread_id(self) -> str: ...


def _platform() -> tuple[str, str]:
    family = "windows" if sys.platform.startswith("win") else "unix"
    os_name = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    return family, os_name


def _text_of(inputs: list[UserInput]) -> str:
    text = "\n".join(item.text for item in inputs)
    if not text.strip():
        raise RequestError(
            INVALID_PARAMS,
            "Invalid params: `input` must contain non-empty text",
            {"field": "input"},
        )
    return text


class Dispatcher:
    """Binds the handlers and the thread registry to one :class:`Connection`."""

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        options: AppServerOptions,
        registry: ThreadRegistry | None = None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.options = options
        self.threads: dict[str, ThreadHandle] = {}
        self.lifecycle = ThreadLifecycle(
            conn=conn,
            settings=settings,
            registry=registry or ThreadRegistry(MemoryThreadStore()),
            threads=self.threads,
            default_cwd=options.default_cwd,
            model_provider=options.model_provider,
            agent_factory=options.agent_factory,
        )
        self._closing = False
        handlers: dict[RequestMethod, Callable[[RequestId, Any], Awaitable[None]]] = {
            RequestMethod.INITIALIZE: self._initialize,
            RequestMethod.THREAD_START: self._thread_start,
            RequestMethod.THREAD_RESUME: self._thread_resume,
            RequestMethod.THREAD_LIST: self.lifecycle.list,
            RequestMethod.THREAD_ARCHIVE: self.lifecycle.archive,
            RequestMethod.THREAD_UNARCHIVE: self.lifecycle.unarchive,
            RequestMethod.TURN_START: self._turn_start,
            RequestMethod.TURN_STEER: self._turn_steer,
            RequestMethod.TURN_INTERRUPT: self._turn_interrupt,
            RequestMethod.REALTIME_START: self._realtime_start,
            RequestMethod.REALTIME_APPEND_AUDIO: self._append_audio,
            RequestMethod.REALTIME_APPEND_TEXT: self._append_text,
            RequestMethod.REALTIME_STOP: self._realtime_stop,
            RequestMethod.REALTIME_REQUEST_RESPONSE: self._request_response,
            RequestMethod.REALTIME_CANCEL_HANDOFF: self._cancel_handoff,
            RequestMethod.REALTIME_LIST_VOICES: self._list_voices,
        }
        conn.handlers = handlers
        conn.route = self._route
        conn.on_close = self.aclose

    # -- plumbing ----------------------------------------------------------------------

    async def _route(
        self, thread_id: str, method: str, job: Callable[[], Awaitable[None]]
    ) -> RequestError | None:
        thread = self.threads.get(thread_id)
        if thread is None:
            return invalid_request(f"thread not found: {thread_id}")
        if method in INLINE_WHEN_IDLE and thread.idle:
            # Nothing of this thread is queued or running, so running it here keeps
            # the order and saves a task switch per audio frame (the hot path).
            await job()
            return None
        if not thread.submit_job(job):
            logger.warning("thread job queue full", extra={"thread_id": thread_id})
            return overloaded()
        return None

    def _thread(self, params: _HasThreadId) -> ThreadHandle:
        thread = self.threads.get(params.thread_id)
        if thread is None:
            raise invalid_request(f"thread not found: {params.thread_id}")
        return thread

    async def aclose(self) -> None:
        """Close every thread of the connection (their conversations end cleanly)."""
        self._closing = True
        threads = list(self.threads.values())
        await asyncio.gather(*(self.lifecycle.close(t) for t in threads), return_exceptions=True)

    # -- initialize ----------------------------------------------------------------------

    async def _initialize(self, rid: RequestId, params: InitializeParams) -> None:
        conn = self.conn
        if conn.initialized:
            raise invalid_request("Already initialized")
        name = params.client_info.name
        if not is_valid_header_value(name):
            raise invalid_request(
                f"Invalid clientInfo.name: '{name}'. Must be a valid HTTP header value."
            )
        caps = params.capabilities
        conn.experimental_api = bool(caps and caps.experimental_api)
        conn.opt_out = frozenset((caps.opt_out_notification_methods or []) if caps else [])
        conn.initialized = True
        family, os_name = _platform()
        agent = f"{name}/{realtalk.__version__} ({platform.system()} {platform.release()}; {platform.machine()}) realtalk"
        await conn.respond(
            rid, InitializeResult(user_agent=agent, platform_family=family, platform_os=os_name)
        )

    # -- threads and turns ---------------------------------------------------------------

    async def _thread_start(self, rid: RequestId, params: ThreadStartParams) -> None:
        self.lifecycle.check_room(self._closing)
        cwd = resolve_cwd(params.cwd, self.options.default_cwd)
        instructions = instructions_of(params.base_instructions, params.developer_instructions)
        model = params.model or self.settings.agent_model
        safety = thread_safety(self.settings, params)
        try:
            safety.sandbox.resolve(cwd)
        except ConfigError as exc:
            raise invalid_request(str(exc)) from exc
        config = ThreadConfig(
            thread_id=f"thr_{uuid.uuid4().hex[:16]}",
            cwd=cwd,
            model=model,
            instructions=instructions,
            safety=safety,
        )
        thread = await self.lifecycle.open_new(
            config, ephemeral=bool(params.ephemeral), settings=thread_settings(params)
        )
        # Like `talk`: the agent's Responses socket is open before the first handoff.
        await thread.bridge.warm()
        provider = self.options.model_provider
        described = thread.describe(provider)
        await self.conn.respond(
            rid,
            ThreadStartResult(
                thread=described,
                model=model,
                model_provider=provider,
                cwd=str(cwd),
                approval_policy=APPROVAL_WIRE[safety.approval],
                sandbox=SANDBOX_WIRE[safety.sandbox.mode],
            ),
        )
        await self.conn.notify(
            NotificationMethod.THREAD_STARTED, ThreadStartedNotification(thread=described)
        )

    async def _thread_resume(self, rid: RequestId, params: ThreadResumeParams) -> None:
        await self.lifecycle.resume(rid, params, closing=self._closing)

    async def _turn_start(self, rid: RequestId, params: TurnStartParams) -> None:
        text = _text_of(params.input)
        thread = self._thread(params)

        async def respond(turn: Turn) -> None:
            await self.conn.respond(rid, TurnStartResult(turn=turn))

        await thread.bridge.start_turn(text, respond)

    async def _turn_steer(self, rid: RequestId, params: TurnSteerParams) -> None:
        text = _text_of(params.input)
        turn_id = await self._thread(params).bridge.steer(text, params.expected_turn_id)
        await self.conn.respond(rid, TurnSteerResult(turn_id=turn_id))

    async def _turn_interrupt(self, rid: RequestId, params: TurnInterruptParams) -> None:
        async def respond() -> None:
            await self.conn.respond(rid, EmptyResult())

        await self._thread(params).bridge.interrupt_turn(params.turn_id, respond)

    # -- realtime ------------------------------------------------------------------------

    async def _realtime_start(self, rid: RequestId, params: ThreadRealtimeStartParams) -> None:
        thread = self._thread(params)
        transport = params.transport
        start = StartParams(
            output_modality=params.output_modality,
            prompt=params.prompt,
            realtime_session_id=params.realtime_session_id,
            transport=WebRtcTransport(transport.sdp)
            if isinstance(transport, RealtimeTransportWebrtc)
            else WebSocketTransport(),
            voice=params.voice,
            version=params.version,
            mode=params.mode,
            model=params.model,
        )
        await self.conn.respond(rid, EmptyResult())
        # Runs inside the thread's worker: later requests of this thread wait for it.
        await thread.manager.start(start)

    async def _not_running(self, thread: ThreadHandle) -> None:
        await self.conn.notify(
            NotificationMethod.REALTIME_ERROR,
            ThreadRealtimeErrorNotification(
                thread_id=thread.id, message=str(ConversationNotRunningError())
            ),
        )

    async def _append_audio(self, rid: RequestId, params: ThreadRealtimeAppendAudioParams) -> None:
        thread = self._thread(params)
        audio = params.audio
        frame = AudioFrame(
            audio.data,
            sample_rate=audio.sample_rate,
            num_channels=audio.num_channels,
            samples_per_channel=audio.samples_per_channel,
            item_id=audio.item_id,
        )
        await self.conn.respond(rid, EmptyResult())
        try:
            await thread.manager.audio_in(frame)
        except ConversationNotRunningError:
            await self._not_running(thread)

    async def _append_text(self, rid: RequestId, params: ThreadRealtimeAppendTextParams) -> None:
        thread = self._thread(params)
        await self.conn.respond(rid, EmptyResult())
        try:
            await thread.manager.text_in(params.text)
        except ConversationNotRunningError:
            await self._not_running(thread)
        else:
            thread.recorder.transcript("user", params.text)

    async def _request_response(
        self, rid: RequestId, params: ThreadRealtimeRequestResponseParams
    ) -> None:
        thread = self._thread(params)
        await self.conn.respond(rid, EmptyResult())
        try:
            await thread.manager.request_response()
        except ConversationNotRunningError:
            await self._not_running(thread)

    async def _cancel_handoff(
        self, rid: RequestId, params: ThreadRealtimeCancelHandoffParams
    ) -> None:
        thread = self._thread(params)
        try:
            cancelled = await thread.manager.cancel_delegation()
        except ConversationNotRunningError:
            await self.conn.respond(rid, ThreadRealtimeCancelHandoffResult(cancelled=False))
            await self._not_running(thread)
            return
        await self.conn.respond(rid, ThreadRealtimeCancelHandoffResult(cancelled=cancelled))

    async def _realtime_stop(self, rid: RequestId, params: ThreadRealtimeStopParams) -> None:
        thread = self._thread(params)
        await self.conn.respond(rid, EmptyResult())
        await thread.manager.close()

    async def _list_voices(self, rid: RequestId, params: EmptyParams) -> None:
        del params
        voices = RealtimeVoices(
            v1=list(V1_VOICES),
            v2=list(V2_VOICES),
            default_v1=default_voice(Version.V1),
            default_v2=default_voice(Version.V2),
        )
        await self.conn.respond(rid, ThreadRealtimeListVoicesResult(voices=voices))

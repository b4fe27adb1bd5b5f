"""The typed JSON-RPC calls of :class:`~realtalk.app_server.Client` (one method per method)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import msgspec

from realtalk.app_server._api import (
    ClientInfo,
    EmptyParams,
    EmptyResult,
    InitializeCapabilities,
    InitializeParams,
    InitializeResult,
    RealtimeAudioChunk,
    RealtimeTransport,
    RealtimeVoices,
    TextInput,
    Thread,
    ThreadArchiveParams,
    ThreadListParams,
    ThreadListResult,
    ThreadRealtimeAppendAudioParams,
    ThreadRealtimeAppendTextParams,
    ThreadRealtimeListVoicesResult,
    ThreadRealtimeRequestResponseParams,
    ThreadRealtimeStartParams,
    ThreadRealtimeStopParams,
    ThreadResumeParams,
    ThreadResumeResult,
    ThreadStartParams,
    ThreadStartResult,
    ThreadUnarchiveParams,
    ThreadUnarchiveResult,
    TurnInterruptParams,
    TurnStartParams,
    TurnStartResult,
    TurnSteerParams,
    TurnSteerResult,
)
from realtalk.app_server._methods import NotificationMethod, RequestMethod
from realtalk.protocol import Mode, OutputModality, Version

__all__ = ["TypedCalls"]

T = TypeVar("T")


class _Requester(Protocol):
    async def request(
        self, method: str, params: Any, result: type[T], *, timeout: float = 30.0
    ) -> T: ...

    async def notify(self, method: str, params: Any = None) -> None: ...


class TypedCalls:
    """Typed wrappers over ``request``; mixed into the client."""

    async def initialize(
        self: _Requester,
        name: str = "realtalk",
        *,
        experimental_api: bool = False,
        opt_out_notification_methods: list[str] | None = None,
        title: str | None = None,
        version: str | None = None,
    ) -> InitializeResult:
        """``initialize`` then the ``initialized`` notification."""
        params = InitializeParams(
            client_info=ClientInfo(name=name, title=title, version=version),
            capabilities=InitializeCapabilities(
                experimental_api=experimental_api,
                opt_out_notification_methods=opt_out_notification_methods,
            ),
        )
        result = await self.request(RequestMethod.INITIALIZE, params, InitializeResult)
        await self.notify(NotificationMethod.INITIALIZED)
        return result

    async def thread_start(
        self: _Requester, params: ThreadStartParams | None = None
    ) -> ThreadStartResult:
        return await self.request(
            RequestMethod.THREAD_START, params or ThreadStartParams(), ThreadStartResult
        )

    async def thread_resume(
        self: _Requester, thread_id: str, params: ThreadResumeParams | None = None
    ) -> ThreadResumeResult:
        """Load a stored thread (``params`` may override its settings)."""
        resume = params or ThreadResumeParams(thread_id=thread_id)
        if resume.thread_id != thread_id:
            resume = msgspec.structs.replace(resume, thread_id=thread_id)
        return await self.request(RequestMethod.THREAD_RESUME, resume, ThreadResumeResult)

    async def thread_list(
        self: _Requester, params: ThreadListParams | None = None
    ) -> ThreadListResult:
        """One page of stored threads, newest first (see ``nextCursor``)."""
        return await self.request(
            RequestMethod.THREAD_LIST, params or ThreadListParams(), ThreadListResult
        )

    async def thread_archive(self: _Requester, thread_id: str) -> None:
        params = ThreadArchiveParams(thread_id=thread_id)
        await self.request(RequestMethod.THREAD_ARCHIVE, params, EmptyResult)

    async def thread_unarchive(self: _Requester, thread_id: str) -> Thread:
        params = ThreadUnarchiveParams(thread_id=thread_id)
        result = await self.request(RequestMethod.THREAD_UNARCHIVE, params, ThreadUnarchiveResult)
        return result.thread

    async def turn_start(self: _Requester, thread_id: str, text: str) -> TurnStartResult:
        params = TurnStartParams(thread_id=thread_id, input=[TextInput(text=text)])
        return await self.request(RequestMethod.TURN_START, params, TurnStartResult)

    async def turn_steer(self: _Requester, thread_id: str, text: str, expected_turn_id: str) -> str:
        params = TurnSteerParams(
            thread_id=thread_id, input=[TextInput(text=text)], expected_turn_id=expected_turn_id
        )
        return (await self.request(RequestMethod.TURN_STEER, params, TurnSteerResult)).turn_id

    async def turn_interrupt(self: _Requester, thread_id: str, turn_id: str) -> None:
        params = TurnInterruptParams(thread_id=thread_id, turn_id=turn_id)
        await self.request(RequestMethod.TURN_INTERRUPT, params, EmptyResult)

    async def realtime_start(
        self: _Requester,
        thread_id: str,
        *,
        output_modality: OutputModality = OutputModality.AUDIO,
        prompt: str | None | msgspec.UnsetType = msgspec.UNSET,
        transport: RealtimeTransport | None = None,
        voice: str | None = None,
        version: Version | None = None,
        mode: Mode | None = None,
        realtime_session_id: str | None = None,
        model: str | None = None,
    ) -> None:
        """Start realtime; the outcome arrives as ``thread/realtime/*`` notifications."""
        params = ThreadRealtimeStartParams(
            thread_id=thread_id,
            output_modality=output_modality,
            prompt=prompt,
            transport=transport,
            voice=voice,
            version=version,
            mode=mode,
            realtime_session_id=realtime_session_id,
            model=model,
        )
        await self.request(RequestMethod.REALTIME_START, params, EmptyResult)

    async def append_audio(self: _Requester, thread_id: str, audio: RealtimeAudioChunk) -> None:
        params = ThreadRealtimeAppendAudioParams(thread_id=thread_id, audio=audio)
        await self.request(RequestMethod.REALTIME_APPEND_AUDIO, params, EmptyResult)

    async def append_text(self: _Requester, thread_id: str, text: str) -> None:
        params = ThreadRealtimeAppendTextParams(thread_id=thread_id, text=text)
        await self.request(RequestMethod.REALTIME_APPEND_TEXT, params, EmptyResult)

    async def request_response(self: _Requester, thread_id: str) -> None:
        """Ask the model to answer the text appended so far (``appendText`` never does)."""
        params = ThreadRealtimeRequestResponseParams(thread_id=thread_id)
        await self.request(RequestMethod.REALTIME_REQUEST_RESPONSE, params, EmptyResult)

    async def realtime_stop(self: _Requester, thread_id: str) -> None:
        params = ThreadRealtimeStopParams(thread_id=thread_id)
        await self.request(RequestMethod.REALTIME_STOP, params, EmptyResult)

    async def list_voices(self: _Requester) -> RealtimeVoices:
        result = await self.request(
            RequestMethod.REALTIME_LIST_VOICES, EmptyParams(), ThreadRealtimeListVoicesResult
        )
        return result.voices

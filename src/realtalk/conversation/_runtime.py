"""One running conversation: a pump between its socket, its core and its subscribers.

Every protocol decision is made by :class:`realtalk.protocol.ConversationCore`; this
module only moves things, with two tasks owned here (``stop`` cancels and awaits them):

* ``reader`` - (WebRTC: joins the sideband first) reads server events, feeds each to
  the core and emits what the core says to emit, in order, straight to the
  subscribers (a :class:`Delegate`, :class:`CancelDelegation` or
  :class:`ApprovalAnswer` goes to the agent link);
* ``writer`` - sends what the core queued (input audio and text, agent output,
  acknowledgements, ``response.create``, truncation), in the core's order;
* ``rotate`` (when the session is to be renewed before the server's cap) - tells the
  core the time when the renewal is due and at its deadline; the core decides.

Inputs (text, audio, response requests, agent events) are calls on the core made by
the caller's task; they wake the writer. So server -> subscriber is one queue hop (the
subscription queue) and input -> socket is one task wake-up (the writer).

Bounds: input audio waiting in the core's outbox, 256 frames (a new frame beyond it is
dropped with a rate-limited warning); other messages waiting, 64 (text and agent
output then wait: back-pressure); each subscription, 1024 events (the reader waits).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from realtalk._errors import RealtalkError
from realtalk.conversation._types import ConversationEvent, Realtime
from realtalk.protocol import (
    ApprovalAnswer,
    AudioFrame,
    AudioOut,
    CancelDelegation,
    ConversationCore,
    Delegate,
    EndReason,
    OutputTranscriptDelta,
    ResponseCreated,
    SessionConfig,
)
from realtalk.transports import RealtimeConnection

__all__ = ["CONTROL_QUEUE_SIZE", "ConversationRuntime"]

logger = logging.getLogger("realtalk.conversation")

CONTROL_QUEUE_SIZE = 64

Connector = Callable[[], Awaitable[RealtimeConnection]]
Emit = Callable[[ConversationEvent], Awaitable[None]]
AgentOrder = Delegate | CancelDelegation | ApprovalAnswer
"""What the core asks of the background agent: start or steer a task, stop it, or take
the user's answer to its question."""
Route = Callable[["ConversationRuntime", AgentOrder], Awaitable[None]]
_AGENT_ORDERS = (Delegate, CancelDelegation, ApprovalAnswer)
_ANSWER_OUTPUTS = (AudioOut, OutputTranscriptDelta)
OnEnd = Callable[["ConversationRuntime", EndReason], Awaitable[None]]


class ConversationRuntime:
    """The core, the socket and the tasks of one conversation."""

    def __init__(
        self,
        core: ConversationCore,
        *,
        session_id: str,
        emit: Emit,
        route: Route,
        on_end: OnEnd,
        config: SessionConfig | None = None,
    ) -> None:
        """``config``: the session's settings as started (a new session reuses them)."""
        self.core = core
        self.config = config
        self.version = core.version
        self.session_id = session_id
        self.active = True
        self.conn: RealtimeConnection | None = None
        self.ready = asyncio.Event()  # the socket is connected: the writer may send
        self.live = asyncio.Event()  # Started was emitted: events may reach subscribers
        self.stopped = asyncio.Event()
        self.opened_at: float | None = None  # loop time the socket became ready
        self._emit = emit
        self._route = route
        self._on_end = on_end
        self._wake = asyncio.Event()  # the core has messages for the writer
        self._writable = asyncio.Event()  # fewer than CONTROL_QUEUE_SIZE messages wait
        self._writable.set()
        self._emitting = False
        self._ending = False
        self._io: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------- tasks

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"realtalk-{name}-{self.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def start_io(
        self, connector: Connector | None, *, rotate: tuple[float, float] | None = None
    ) -> None:
        """Spawn the reader and the writer (and the rotation timer).

        With ``connector`` (a WebRTC sideband, or a new session continuing the
        conversation) the reader first connects through it; without, ``self.conn`` must
        already be connected. ``rotate`` = (after, grace) seconds from the socket being
        ready: renew the session at a turn boundary from ``after``, at ``after + grace``
        at the latest.
        """
        self._io = [
            self.spawn(self._reader(connector), "reader"),
            self.spawn(self._writer(), "writer"),
        ]
        if rotate is not None:
            self._io.append(self.spawn(self._rotation(*rotate), "rotate"))

    async def stop(self, *, send_close: bool) -> None:
        """Deactivate, cancel and await every task, close the socket. Idempotent."""
        self.active = False
        self.stopped.set()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        conn = self.conn
        try:
            # gather, not a loop of awaits: it waits for every task even when this stop
            # runs in cleanup after its caller was cancelled (a cancelled caller still
            # sees its own CancelledError from the gather).
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):  # failing at shutdown must not break stop
                    logger.debug("conversation task failed during stop", exc_info=result)
            if conn is not None and send_close:
                await conn.aclose()
        finally:
            if conn is not None:
                conn.abort()  # no-op after a clean close; drops the socket otherwise

    # ----------------------------------------------------------------- inputs

    def offer_audio(self, frame: AudioFrame) -> bool:
        """Queue one input audio frame (False: dropped, the core's audio queue is full)."""
        if self.core.user_audio(frame):
            self._wake.set()
            return True
        return False

    async def text_in(self, text: str) -> bool:
        """Queue user text (waits while too many messages wait); False once stopped."""
        return await self._control(lambda core: core.user_text(text))

    async def request_response(self) -> bool:
        return await self._control(lambda core: core.request_response())

    async def push_to_talk(self, *, talking: bool) -> bool:
        """See ``ConversationCore.begin_speech`` / ``end_speech``."""
        now = asyncio.get_running_loop().time()
        if talking:
            return await self._control(lambda core: core.begin_speech(now))
        return await self._control(lambda core: core.end_speech())

    async def interrupt(self) -> bool:
        """Stop the assistant (see ``ConversationCore.interrupt``); False: nothing to stop."""
        now = asyncio.get_running_loop().time()
        return await self._control(lambda core: core.interrupt(now))

    async def agent_message(self, text: str) -> bool:
        return await self._control(lambda core: core.agent_message(text))

    async def agent_complete(self) -> bool:
        return await self._control(lambda core: core.agent_complete())

    async def agent_failed(self, message: str) -> bool:
        return await self._control(lambda core: core.agent_failed(message))

    async def agent_stopped(self) -> bool:
        return await self._control(lambda core: core.agent_stopped())

    async def agent_question(self, request_id: str, question: str) -> bool:
        return await self._control(lambda core: core.agent_question(request_id, question))

    async def agent_question_resolved(self, request_id: str, *, approved: bool) -> bool:
        return await self._control(
            lambda core: core.agent_question_resolved(request_id, approved=approved)
        )

    async def cancel_delegation(self) -> bool | None:
        """Cancel the running delegation; None once stopped, else whether one ran."""
        cancelled: list[bool] = []

        def cancel(core: ConversationCore) -> None:
            cancelled.append(core.cancel_delegation())

        if not await self._control(cancel):
            return None
        return cancelled[0]

    async def _control(self, call: Callable[[ConversationCore], bool | None]) -> bool:
        if not self._writable.is_set() and not await self._wait(self._writable):
            return False
        if not self.active or self.core.end_reason is not None:
            return False
        accepted = call(self.core) is not False
        self._wake.set()
        if self.core.pending_control >= CONTROL_QUEUE_SIZE:
            self._writable.clear()
        await self.flush_outputs()  # e.g. TurnStarted
        self._check_end()  # e.g. a rotation that was waiting for this turn edge
        return accepted

    async def _wait(self, event: asyncio.Event) -> bool:
        """Wait for ``event`` unless the conversation stops first."""
        if self.stopped.is_set():
            return False
        waiter = asyncio.ensure_future(event.wait())
        stop = asyncio.ensure_future(self.stopped.wait())
        try:
            await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (waiter, stop):
                t.cancel()
            await asyncio.gather(waiter, stop, return_exceptions=True)
        return event.is_set() and not self.stopped.is_set()

    async def put_until_stopped(self, queue: asyncio.Queue[Any], item: Any) -> bool:
        """``await queue.put(item)`` unless the conversation stops first."""
        if not queue.full():
            queue.put_nowait(item)
            return True
        put = asyncio.ensure_future(queue.put(item))
        stop = asyncio.ensure_future(self.stopped.wait())
        try:
            await asyncio.wait({put, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (put, stop):
                t.cancel()
            await asyncio.gather(put, stop, return_exceptions=True)
        return put.done() and not put.cancelled()

    # ----------------------------------------------------------------- outputs

    async def flush_outputs(self) -> None:
        """Emit what the core produced, in order (one task at a time does it)."""
        if self._emitting or not self.live.is_set():
            return  # whoever is emitting (or the reader, once live) takes these too
        self._emitting = True
        try:
            await self._drain()
        finally:
            self._emitting = False

    async def _drain(self) -> None:
        core, emit = self.core, self._emit
        while (out := core.next_output()) is not None:
            if isinstance(out, _AGENT_ORDERS):
                await self._route(self, out)
            else:
                await emit(Realtime(out))

    def _check_end(self) -> bool:
        """Start the end (once) when the core says the conversation is over."""
        if self.core.end_reason is None:
            return False
        if not self._ending:
            self._ending = True
            self.spawn(self._finish(), "finish")
        return True

    async def _finish(self) -> None:
        current = asyncio.current_task()
        others = [t for t in self._io if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if not self.active:
            return  # stopped from outside meanwhile: no events
        await self.live.wait()
        await self._drain()
        reason = self.core.end_reason
        assert reason is not None
        await self._on_end(self, reason)

    # ----------------------------------------------------------------- reader

    async def _reader(self, connector: Connector | None) -> None:
        try:
            await self._read(connector)
        except Exception as exc:  # a bug must end the conversation, never stall it
            logger.exception("realtime reader failed unexpectedly")
            self.core.fail(f"realtime stream failed: {exc}")
            self._check_end()

    async def _read(self, connector: Connector | None) -> None:
        if connector is not None:
            try:
                self.conn = await connector()
            except RealtalkError as exc:
                self.core.fail(str(exc))
                self._check_end()
                return
            if not self.active:
                self.conn.abort()
                return
        conn = self.conn
        assert conn is not None
        self.opened_at = asyncio.get_running_loop().time()
        self.ready.set()
        self._wake.set()  # input that arrived while joining goes out now
        await self.live.wait()
        core, emit, wake = self.core, self._emit, self._wake
        next_output = core.next_output
        clock = asyncio.get_running_loop().time
        # The first audio or text of each response goes to the subscribers at once: the
        # reader yields after emitting it instead of parsing the rest of the burst the
        # socket holds first (~0.1 ms at loopback speed). Once per response, so a long
        # answer's throughput is unchanged.
        first_pending = True
        while True:
            try:
                event = await conn.next_event()
            except RealtalkError as exc:
                core.stream_failed(str(exc))
            else:
                if event is None:
                    core.stream_ended(conn.close_detail)
                else:
                    core.receive_event(event, clock())
                    if core.pending_messages:
                        wake.set()
            if not self._emitting:  # flush_outputs, inlined: this is the hot path
                self._emitting = True
                try:
                    answered = False
                    while (out := next_output()) is not None:
                        if isinstance(out, _AGENT_ORDERS):
                            await self._route(self, out)
                            continue
                        await emit(Realtime(out))
                        if first_pending:
                            answered = isinstance(out, _ANSWER_OUTPUTS)
                            first_pending = not answered
                        elif type(out) is ResponseCreated:
                            first_pending = True
                finally:
                    self._emitting = False
                if answered:
                    await asyncio.sleep(0)
            if core.end_reason is not None and self._check_end():
                return

    # ----------------------------------------------------------------- rotate

    async def _rotation(self, after_s: float, grace_s: float) -> None:
        await self.ready.wait()
        clock = asyncio.get_running_loop().time
        due = (self.opened_at or clock()) + after_s
        self.core.schedule_rotation(due, due + grace_s)
        for at in (due, due + grace_s):
            await asyncio.sleep(max(0.0, at - clock()))
            self.core.tick(clock())
            if self._check_end():
                return

    # ----------------------------------------------------------------- writer

    async def _writer(self) -> None:
        await self.ready.wait()
        conn = self.conn
        assert conn is not None
        core, wake, writable = self.core, self._wake, self._writable
        while True:
            message = core.next_message()
            if message is None:
                writable.set()
                wake.clear()
                await wake.wait()
                continue
            if not writable.is_set() and core.pending_control < CONTROL_QUEUE_SIZE:
                writable.set()
            try:
                await conn.send(message)
            except Exception as exc:  # RealtalkError, or a bug: end, never stall
                if not isinstance(exc, RealtalkError):
                    logger.exception("unexpected error sending a realtime message")
                core.send_failed(str(exc))
                if core.pending_messages:
                    wake.set()
                await self.flush_outputs()
                if self._check_end():
                    return


def backoff_delay(attempt: int, base_ms: int) -> float:
    """Exponential backoff with +-10% jitter, in seconds (attempt counts from 1)."""
    return float(base_ms / 1000.0 * (2 ** (attempt - 1)) * random.uniform(0.9, 1.1))

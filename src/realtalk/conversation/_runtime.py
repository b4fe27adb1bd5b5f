"""One running conversation: its queues, its tasks and its connection.

Task layout (all owned by this object; ``stop`` cancels and awaits them):

* ``reader``  - (WebRTC: joins the sideband first) reads server events, applies the
  v2 behaviours of reference 1.5 (barge-in truncate, response.create queue,
  handoff acks), pushes every event to ``events``.
* ``text`` / ``audio`` / ``handoff`` forwarders - each drains its own bounded queue
  onto the socket once the connection is ready, preserving order per source.
* ``fanout`` - drains ``events``: routes handoffs to the background agent, emits
  ``Realtime`` events to subscribers and, when the stream ends, ``Closed``.

Queues: audio 256 (full -> the frame is dropped with a warning), text 64
(back-pressure), handoff 64 (back-pressure), events 256 (back-pressure).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from realtalk._errors import RealtalkError
from realtalk.protocol import (
    AudioFrame,
    AudioOut,
    ErrorEvent,
    HandoffRequested,
    HandoffState,
    InputAudioSpeechStarted,
    NoopRequested,
    ProgressUpdate,
    RealtimeEvent,
    RequestCreate,
    ResponseCancelled,
    ResponseCreated,
    ResponseCreateQueue,
    ResponseDone,
    SendMessage,
    SessionUpdated,
    Version,
    input_audio_append,
    item_truncate,
    response_create,
    user_text_item,
)
from realtalk.transports import RealtimeConnection

__all__ = ["ACTIVE_RESPONSE_ERROR_CODE", "ConversationRuntime", "HandoffItem"]

logger = logging.getLogger("realtalk.conversation")

AUDIO_QUEUE_SIZE = 256
TEXT_QUEUE_SIZE = 64
HANDOFF_QUEUE_SIZE = 64
EVENTS_QUEUE_SIZE = 256
ACTIVE_RESPONSE_ERROR_CODE = "conversation_already_has_active_response"

HandoffItem = ProgressUpdate | list[SendMessage | RequestCreate]
Connector = Callable[[], Awaitable[RealtimeConnection]]


class _End:
    """Sentinel that ends the events stream."""


_END = _End()


class ConversationRuntime:
    """State and tasks of one conversation (reference ``ConversationState``)."""

    def __init__(self, version: Version, *, session_id: str) -> None:
        self.version = version
        self.session_id = session_id
        self.active = True
        self.audio: asyncio.Queue[AudioFrame] = asyncio.Queue(AUDIO_QUEUE_SIZE)
        # Text items, and explicit response requests kept in order behind them.
        self.text: asyncio.Queue[str | RequestCreate] = asyncio.Queue(TEXT_QUEUE_SIZE)
        self.handoff_out: asyncio.Queue[HandoffItem] = asyncio.Queue(HANDOFF_QUEUE_SIZE)
        self.events: asyncio.Queue[RealtimeEvent | _End] = asyncio.Queue(EVENTS_QUEUE_SIZE)
        self.handoff = HandoffState(version)
        self.responses = ResponseCreateQueue()
        self.conn: RealtimeConnection | None = None
        self.ready = asyncio.Event()
        self.stopped = asyncio.Event()
        self._ending = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._audio_item: str | None = None
        self._audio_ms = 0.0
        self._dropped_audio = 0

    # ----------------------------------------------------------------- tasks

    def spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"realtalk-{name}-{self.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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

    def start_io(self, connector: Connector | None) -> None:
        """Spawn the reader and the three forwarders.

        With ``connector`` (WebRTC) the reader first joins the sideband through it;
        without, ``self.conn`` must already be connected.
        """
        self.spawn(self._reader(connector), "reader")
        self.spawn(self._forward_text(), "text")
        self.spawn(self._forward_audio(), "audio")
        self.spawn(self._forward_handoff(), "handoff")

    # ----------------------------------------------------------------- inputs

    def offer_audio(self, frame: AudioFrame) -> None:
        try:
            self.audio.put_nowait(frame)
        except asyncio.QueueFull:
            self._dropped_audio += 1
            if self._dropped_audio == 1 or self._dropped_audio % 100 == 0:
                logger.warning(
                    "dropping input audio frame due to full queue",
                    extra={"dropped_total": self._dropped_audio},
                )

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

    # ----------------------------------------------------------------- failure

    async def fail(self, message: str) -> None:
        """End the conversation with an ``Error`` event then ``Closed{error}``."""
        if self._ending:
            return
        self._ending = True
        logger.error("realtime conversation failed: %s", message)
        await self.put_until_stopped(self.events, ErrorEvent(message))
        await self.put_until_stopped(self.events, _END)

    async def _end_stream(self) -> None:
        if self._ending:
            return
        self._ending = True
        await self.put_until_stopped(self.events, _END)

    async def send(self, message: dict[str, Any], what: str) -> bool:
        conn = self.conn
        assert conn is not None
        try:
            await conn.send(message)
        except RealtalkError as exc:
            logger.warning("failed to send %s: %s", what, exc)
            await self.fail(f"failed to send {what}: {exc}")
            return False
        except Exception as exc:  # a bug must end the conversation, never stall it
            logger.exception("unexpected error sending %s", what)
            await self.fail(f"failed to send {what}: {exc}")
            return False
        return True

    # ----------------------------------------------------------------- forwarders

    async def _forward_text(self) -> None:
        await self.ready.wait()
        while True:
            item = await self.text.get()
            if isinstance(item, RequestCreate):
                if not await self.request_create(item.reason):
                    return
                continue
            logger.debug("[realtime-text] appending realtime conversation text input")
            if not await self.send(user_text_item(self.version, item), "input text"):
                return

    async def _forward_audio(self) -> None:
        await self.ready.wait()
        while True:
            frame = await self.audio.get()
            if not await self.send(input_audio_append(frame.data), "input audio"):
                return

    async def _forward_handoff(self) -> None:
        await self.ready.wait()
        while True:
            item = await self.handoff_out.get()
            actions = (
                self.handoff.progress_actions(item) if isinstance(item, ProgressUpdate) else item
            )
            if not await self.run_actions(actions, "handoff output"):
                return

    async def run_actions(self, actions: list[SendMessage | RequestCreate], what: str) -> bool:
        for action in actions:
            if isinstance(action, SendMessage):
                if not await self.send(action.message, what):
                    return False
            elif not await self.request_create(action.reason):
                return False
        return True

    async def request_create(self, reason: str) -> bool:
        """Send ``response.create`` now, or owe it while a response is active.

        v1 has no queue (reference 4.5): the create goes out at once.
        """
        if self.version is Version.V2 and not self.responses.request_create(reason):
            return True
        return await self._send_create(reason)

    async def _send_create(self, reason: str) -> bool:
        conn = self.conn
        assert conn is not None
        try:
            await conn.send(response_create())
        except RealtalkError as exc:
            if self.version is Version.V2 and self.responses.on_send_result(str(exc)):
                return True
            logger.warning("failed to send %s response.create: %s", reason, exc)
            await self.fail(f"failed to send {reason} response.create: {exc}")
            return False
        if self.version is Version.V2:
            self.responses.on_send_result(None)
        return True

    # ----------------------------------------------------------------- reader

    async def _reader(self, connector: Connector | None) -> None:
        try:
            await self._read(connector)
        except Exception as exc:  # a bug must end the conversation, never stall it
            logger.exception("realtime reader failed unexpectedly")
            if self.active:
                await self.fail(f"realtime stream failed: {exc}")

    async def _read(self, connector: Connector | None) -> None:
        if connector is not None:
            try:
                self.conn = await connector()
            except RealtalkError as exc:
                if self.active:
                    await self.fail(str(exc))
                return
            if not self.active:
                self.conn.abort()
                return
        self.ready.set()
        conn = self.conn
        assert conn is not None
        while True:
            try:
                event = await conn.next_event()
            except RealtalkError as exc:
                await self.fail(f"realtime stream error: {exc}")
                return
            if event is None:
                logger.info("realtime stream closed by the server")
                await self._end_stream()
                return
            if not await self._on_server_event(event):
                return

    async def _on_server_event(self, event: RealtimeEvent) -> bool:
        """Apply reference 1.5; returns False when the reader must stop."""
        v2 = self.version is Version.V2
        if isinstance(event, AudioOut):
            if v2:
                self._track_audio(event.frame)
        elif isinstance(event, InputAudioSpeechStarted):
            if v2:
                await self._truncate(event.item_id)
        elif isinstance(event, ResponseCreated):
            if v2:
                self.responses.on_response_created(event.response_id)
        elif isinstance(event, ResponseCancelled | ResponseDone):
            self._audio_item = None
            if v2:
                kind: Literal["done", "cancelled"] = (
                    "cancelled" if isinstance(event, ResponseCancelled) else "done"
                )
                if self.responses.on_response_finished(
                    event.response_id, kind
                ) and not await self._send_create("deferred"):
                    return False
        elif isinstance(event, HandoffRequested):
            self._audio_item = None
            if not await self.run_actions(
                self.handoff.on_handoff_requested(event), "handoff steering acknowledgement"
            ):
                return False
        elif isinstance(event, NoopRequested):
            if not await self.run_actions(self.handoff.on_noop(event), "noop function output"):
                return False
        elif isinstance(event, ErrorEvent):
            if v2 and event.code == ACTIVE_RESPONSE_ERROR_CODE:
                # Benign race: our create met an active response. Keep the
                # conversation and owe the create until that response ends.
                logger.warning("realtime response.create raced an active response; deferring")
                self.responses.on_active_response_error()
                return True
            await self.put_until_stopped(self.events, event)
            await self._end_stream()
            return False
        elif isinstance(event, SessionUpdated):
            logger.info(
                "realtime session updated",
                extra={"realtime_session_id": event.realtime_session_id},
            )
        return await self.put_until_stopped(self.events, event)

    def _track_audio(self, frame: AudioFrame) -> None:
        if frame.item_id is None:
            return
        if frame.samples_per_channel is not None:
            samples = frame.samples_per_channel
        else:
            samples = base64_decoded_len(frame.data) // 2 // max(frame.num_channels, 1)
        duration = samples * 1000.0 / max(frame.sample_rate, 1)
        if frame.item_id == self._audio_item:
            self._audio_ms += duration
        else:
            self._audio_item = frame.item_id
            self._audio_ms = duration

    async def _truncate(self, speech_item: str | None) -> None:
        item, played = self._audio_item, self._audio_ms
        self._audio_item = None
        if item is None or (speech_item is not None and speech_item != item):
            return
        conn = self.conn
        assert conn is not None
        try:
            await conn.send(item_truncate(item, int(played)))
        except RealtalkError as exc:
            logger.warning("failed to truncate realtime audio: %s", exc)

    # ----------------------------------------------------------------- fanout

    async def next_fanout_item(self) -> RealtimeEvent | None:
        item = await self.events.get()
        return None if isinstance(item, _End) else item


def base64_decoded_len(data: str) -> int:
    """Byte length of base64 ``data`` without decoding it (hot path: every audio delta)."""
    padding = 2 if data.endswith("==") else 1 if data.endswith("=") else 0
    return len(data) * 3 // 4 - padding


def backoff_delay(attempt: int, base_ms: int) -> float:
    """Exponential backoff with +-10% jitter, in seconds (attempt counts from 1)."""
    return float(base_ms / 1000.0 * (2 ** (attempt - 1)) * random.uniform(0.9, 1.1))

"""The media side of one WebRTC call, and what the emulator records about calls.

``_Call`` wires one aiortc :class:`AnsweringPeer` to one :class:`ScriptedModel`:

* model output audio -> the call's audio track (the model's ``audio_sink``);
* model events -> the ``oai-events`` data channel (sideband sockets are further
  model sinks, added by the server);
* audio received on the track -> ``feed_input_audio`` (same VAD/transcription path
  as ``input_audio_buffer.append``); data-channel client events ->
  ``handle_client_event``.

Queues: inbound (track audio + data-channel events, 1024 items) and outbound (events
for the data channel, 1024). Both are filled from callbacks that must not block, so
when full the newest item is dropped with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

from realtalk._errors import TransportClosedError
from realtalk.emulator._model import ScriptedModel

__all__ = ["Call", "CallRecord", "sleep_until"]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

_QUEUE_SIZE: Final = 1024
_DATA_CHANNEL_OPEN_TIMEOUT_S: Final = 30.0


async def sleep_until(deadline: float, closing: asyncio.Event) -> None:
    """Sleep until loop time ``deadline``; return early once ``closing`` is set."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0 or closing.is_set():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(remaining):
            await closing.wait()


class CallRecord:
    """One ``POST .../realtime/calls``: the request as received and what the call saw.

    ``sideband_requests`` counts sideband handshake requests on arrival;
    ``sideband`` lists the outcome of each, in order: ``refused`` (fault),
    ``abandoned`` (the client left during the handshake latency) or ``accepted``.
    """

    def __init__(
        self, *, path_qs: str, headers: dict[str, str], content_type: str | None, body: bytes
    ) -> None:
        self.path_qs = path_qs
        self.headers = headers
        self.content_type = content_type
        self.body = body
        self.body_kind: str | None = None
        self.offer_sdp: str | None = None
        self.session: JsonDict | None = None
        self.status: int | None = None
        self.call_id: str | None = None
        self.location: str | None = None
        self.answer_sdp: str | None = None
        self.sideband_requests = 0
        self.sideband: list[str] = []
        self.data_channel_received: list[JsonDict] = []
        self.input_audio_bytes = 0
        self.output_audio_bytes = 0
        self.ended = asyncio.Event()
        self._changed = asyncio.Event()

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(
        self,
        predicate: Callable[[CallRecord], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait (bounded) until ``predicate(self)`` holds."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate(self):
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"call {self.call_id} did not reach the expected state within {timeout}s "
                f"(sideband={self.sideband}, input_audio_bytes={self.input_audio_bytes})"
            ) from None


class Call:
    """The media side of one call: peer, model, pumps."""

    def __init__(self, call_id: str, record: CallRecord, *, loopback_only: bool) -> None:
        self.call_id = call_id
        self.record = record
        # aiortc is imported with the first call, not with the emulator (a WebSocket
        # session, and so `realtalk talk --transport websocket`, never loads it).
        from realtalk.emulator._rtc_peer import AnsweringPeer

        self.peer = AnsweringPeer(loopback_only=loopback_only)
        self.model: ScriptedModel | None = None
        self._inbound: asyncio.Queue[bytes | JsonDict] = asyncio.Queue(_QUEUE_SIZE)
        self._outbound: asyncio.Queue[JsonDict] = asyncio.Queue(_QUEUE_SIZE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._channel_dead = False
        self._closed = False
        self._dropped = 0

    async def play(self, pcm: bytes) -> None:
        """The model's audio sink: queue output audio on the track (never blocks)."""
        if not self._closed:
            self.peer.play_pcm24k(pcm)
            self.record.output_audio_bytes += len(pcm)

    async def configure(self, model: ScriptedModel, session: JsonDict | None) -> None:
        """Apply the call's session before any sink exists (so nothing is emitted)."""
        self.model = model
        if session:
            await model.handle_client_event({"type": "session.update", "session": session})

    async def start(self) -> None:
        """Wire the peer to the model and greet on the data channel."""
        model = self.model
        assert model is not None
        model.add_sink(self._to_data_channel)
        self.peer.on_audio = self._enqueue_inbound
        self.peer.on_event = self._enqueue_inbound
        self._spawn(self._pump_inbound(model), "inbound")
        self._spawn(self._pump_outbound(), "outbound")
        await model.start()

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"emulator-call-{name}-{self.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drop(self, what: str) -> None:
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 100 == 0:
            logger.warning(
                "emulator call queue full; dropping the newest item",
                extra={"call_id": self.call_id, "what": what, "dropped_total": self._dropped},
            )

    def _enqueue_inbound(self, item: bytes | JsonDict) -> None:
        if self._closed:
            return
        try:
            self._inbound.put_nowait(item)
        except asyncio.QueueFull:
            self._drop("inbound")

    async def _to_data_channel(self, event: JsonDict) -> None:
        if event.get("type") == "output_audio_buffer.cleared":
            self.peer.clear_audio()  # barge-in: stop what is still queued on the track
        if self._closed or self._channel_dead:
            return
        try:
            self._outbound.put_nowait(event)
        except asyncio.QueueFull:
            self._drop("outbound")

    async def _pump_inbound(self, model: ScriptedModel) -> None:
        while True:
            item = await self._inbound.get()
            try:
                if isinstance(item, bytes):
                    self.record.input_audio_bytes += len(item)
                    await model.feed_input_audio(item)
                else:
                    self.record.data_channel_received.append(item)
                    await model.handle_client_event(item)
            except Exception:
                logger.exception(
                    "emulator call failed to process input", extra={"call_id": self.call_id}
                )
            self.record.notify()

    async def _pump_outbound(self) -> None:
        while True:
            event = await self._outbound.get()
            try:
                await self.peer.send_event(event, timeout=_DATA_CHANNEL_OPEN_TIMEOUT_S)
            except TransportClosedError as exc:
                logger.debug(
                    "emulator call data channel unusable; dropping its events",
                    extra={"call_id": self.call_id, "error": str(exc)},
                )
                self._channel_dead = True
                return

    async def aclose(self) -> None:
        """Hang up: stop the model, the peer and the pumps. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.peer.on_audio = None
        self.peer.on_event = None
        try:
            if self.model is not None:
                await self.model.aclose()
            await self.peer.aclose()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self.record.ended.set()
            self.record.notify()

"""Local WebRTC media peer (aiortc): one audio track plus the ``oai-events`` channel.

Theory of operation. ``WebRtcPeer`` wraps one ``RTCPeerConnection`` configured for
offline use (``iceServers=[]``, so no STUN lookup). It can play either role:

* offerer (the realtalk client): ``create_offer()`` -> POST it -> ``accept_answer()``;
* answerer (the emulator): ``accept_offer(offer) -> answer``.

Outgoing audio is pcm24k pushed into a ``Pcm24kSource`` track (bounded, drop-oldest).
Incoming audio is decoded by aiortc, converted to pcm24k and delivered to ``on_audio``
or, without a callback, to the ``received_audio()`` iterator. Data-channel JSON objects
go to ``on_event`` or the ``events()`` iterator. Both inbound queues are bounded with a
**drop-oldest** policy (a slow consumer loses old audio/events, never blocks aiortc).

The peer's lifecycle is a pure table (``realtalk.protocol._calls.next_peer_state``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from realtalk._errors import ConnectError, ProtocolError, TransportClosedError, TransportError
from realtalk.protocol import PeerInput, PeerState, next_peer_state
from realtalk.transports._audio import FrameToPcm24k
from realtalk.transports._ice import loopback_ice_candidates
from realtalk.transports._inbox import DropOldest
from realtalk.transports._track import Pcm24kSource

__all__ = [
    "EVENTS_CHANNEL_LABEL",
    "WebRtcPeer",
    "loopback_ice_candidates",
]

logger = logging.getLogger(__name__)

EVENTS_CHANNEL_LABEL = "oai-events"


class WebRtcPeer:
    """A WebRTC peer with one sendrecv audio track and the ``oai-events`` data channel.

    Args:
        loopback_only: Gather only 127.0.0.1 host candidates (offline use).
        on_audio: Called with each received pcm24k chunk; if ``None``, chunks go to
            ``received_audio()``.
        on_event: Called with each received data-channel JSON object; if ``None``,
            they go to ``events()``.
        max_outgoing_ms: Outgoing audio buffer (drop-oldest beyond it).
        audio_queue_chunks: Received-audio queue size (~20 ms chunks; drop-oldest).
        event_queue_size: Received-event queue size (drop-oldest).
        close_timeout: Bound on closing the peer connection in ``aclose()``.
    """

    def __init__(
        self,
        *,
        loopback_only: bool = False,
        on_audio: Callable[[bytes], None] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        max_outgoing_ms: int = 10_000,
        audio_queue_chunks: int = 500,
        event_queue_size: int = 1024,
        close_timeout: float = 5.0,
    ) -> None:
        self.on_audio = on_audio
        self.on_event = on_event
        self._loopback_only = loopback_only
        self._close_timeout = close_timeout
        self._state = PeerState.NEW
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._source = Pcm24kSource(max_buffered_ms=max_outgoing_ms)
        self._audio_queue: DropOldest[bytes] = DropOldest(audio_queue_chunks)
        self._event_queue: DropOldest[dict[str, Any]] = DropOldest(event_queue_size)
        self._channel_open = asyncio.Event()
        self._ready = asyncio.Event()  # ICE/DTLS connected and channel open
        self._ended = asyncio.Event()  # failed or closed: no more audio or events
        self._closed = asyncio.Event()  # aclose() finished
        self._tasks: set[asyncio.Task[None]] = set()
        self._has_audio_track = False
        self._end_reason = ""

    # --- properties ---------------------------------------------------------------------

    @property
    def state(self) -> PeerState:
        return self._state

    @property
    def ended(self) -> bool:
        """True once the connection failed or the peer was closed."""
        return self._ended.is_set()

    async def wait_ended(self) -> None:
        """Return when the connection is lost or the peer is closed (ends on aclose)."""
        await self._ended.wait()

    @property
    def outgoing_buffered_ms(self) -> float:
        return self._source.buffered_ms

    @property
    def dropped_outgoing_bytes(self) -> int:
        return self._source.dropped_bytes

    # --- negotiation --------------------------------------------------------------------

    def _advance(self, event: PeerInput) -> None:
        self._state = next_peer_state(self._state, event)

    def _new_connection(self) -> RTCPeerConnection:
        # iceServers=[]: the default would add a public STUN server (no network offline).
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("connectionstatechange", self._on_connection_state)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        self._pc = pc
        return pc

    def _gathering_scope(self) -> contextlib.AbstractContextManager[None]:
        return loopback_ice_candidates() if self._loopback_only else contextlib.nullcontext()

    async def create_offer(self) -> str:
        """Create the offer: one sendrecv audio track and the ``oai-events`` channel.

        ICE gathering completes before this returns, so the SDP carries the candidates.
        """
        next_peer_state(self._state, PeerInput.CREATE_OFFER)
        pc = self._new_connection()
        try:
            pc.addTrack(self._source)
            self._attach_channel(pc.createDataChannel(EVENTS_CHANNEL_LABEL))
            offer = await pc.createOffer()
            with self._gathering_scope():
                await pc.setLocalDescription(offer)
        except Exception as exc:
            self._fail(f"creating the offer failed: {exc}")
            raise TransportError(f"could not create the WebRTC offer: {exc}") from exc
        self._advance(PeerInput.CREATE_OFFER)
        return pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        """Apply the remote answer; connecting starts right after."""
        next_peer_state(self._state, PeerInput.ACCEPT_ANSWER)
        assert self._pc is not None
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            self._fail(f"invalid answer: {exc}")
            raise ProtocolError(f"the server sent an invalid SDP answer: {exc}") from exc
        self._advance(PeerInput.ACCEPT_ANSWER)

    async def accept_offer(self, sdp: str) -> str:
        """Answer a remote offer (answerer role); returns the answer SDP with candidates."""
        next_peer_state(self._state, PeerInput.ACCEPT_OFFER)
        pc = self._new_connection()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if not any(t.kind == "audio" for t in pc.getTransceivers()):
                raise ValueError("the offer has no audio track")
            pc.addTrack(self._source)  # binds to the offered audio transceiver
            answer = await pc.createAnswer()
            with self._gathering_scope():
                await pc.setLocalDescription(answer)
        except Exception as exc:
            self._fail(f"invalid offer: {exc}")
            raise ProtocolError(f"invalid SDP offer: {exc}") from exc
        self._advance(PeerInput.ACCEPT_OFFER)
        return pc.localDescription.sdp

    # --- aiortc callbacks ---------------------------------------------------------------

    def _on_connection_state(self) -> None:
        assert self._pc is not None
        state = self._pc.connectionState
        logger.debug("webrtc connection state", extra={"connection_state": state})
        if state == "connected" and self._state is PeerState.NEGOTIATED:
            self._advance(PeerInput.CONNECT)
            self._update_ready()
        elif state in ("failed", "closed"):
            self._fail(f"connection {state}", remote_hangup=state == "closed")

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio" or self._has_audio_track:
            logger.warning("ignoring unexpected remote track", extra={"kind": track.kind})
            return
        self._has_audio_track = True
        self._spawn(self._pump_audio(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL_LABEL or self._channel is not None:
            logger.warning("ignoring unexpected data channel", extra={"label": channel.label})
            return
        self._attach_channel(channel)

    def _attach_channel(self, channel: RTCDataChannel) -> None:
        self._channel = channel

        def on_open() -> None:
            self._channel_open.set()
            self._update_ready()

        channel.on("open", on_open)
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._fail("data channel closed", remote_hangup=True))
        if channel.readyState == "open":
            on_open()

    def _update_ready(self) -> None:
        if self._state is PeerState.CONNECTED and self._channel_open.is_set():
            self._ready.set()

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            logger.warning("ignoring binary data-channel message", extra={"size": len(message)})
            return
        try:
            event = json.loads(message)
        except ValueError:
            logger.debug("ignoring non-JSON data-channel message", extra={"size": len(message)})
            return
        if not isinstance(event, dict):
            logger.debug("ignoring non-object data-channel message")
            return
        if self._ended.is_set():
            return  # nothing is delivered after the end: no stale events
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("on_event callback failed")
        elif self._event_queue.put(event):
            logger.warning("event queue full; dropped the oldest event")

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        converter = FrameToPcm24k()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, AudioFrame):
                continue
            pcm = converter.convert(frame)
            if not pcm or self._ended.is_set():
                continue
            if self.on_audio is not None:
                try:
                    self.on_audio(pcm)
                except Exception:
                    logger.exception("on_audio callback failed")
            elif self._audio_queue.put(pcm):
                logger.debug("received-audio queue full; dropped the oldest chunk")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fail(self, reason: str, *, remote_hangup: bool = False) -> None:
        if self._state in (PeerState.FAILED, PeerState.CLOSED):
            return
        # A remote hang-up is a normal end of call; anything else is worth a warning.
        level = logging.INFO if remote_hangup else logging.WARNING
        logger.log(level, "webrtc peer ended", extra={"reason": reason, "state": self._state.value})
        self._advance(PeerInput.FAIL)
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self._ended.is_set():
            return
        self._end_reason = reason
        self._ended.set()
        self._audio_queue.end()
        self._event_queue.end()

    # --- media and events ---------------------------------------------------------------

    def push_pcm24k(self, data: bytes) -> None:
        """Queue 24 kHz mono PCM16 for sending (drop-oldest beyond ``max_outgoing_ms``)."""
        self._source.push(data)

    def clear_outgoing_audio(self) -> None:
        """Discard audio queued for sending."""
        self._source.clear()

    def received_audio(self) -> AsyncIterator[bytes]:
        """Received pcm24k chunks until the peer ends (unless ``on_audio`` is set)."""
        return self._audio_queue.items()

    def events(self) -> AsyncIterator[dict[str, Any]]:
        """Received data-channel events until the peer ends (unless ``on_event`` is set)."""
        return self._event_queue.items()

    async def _wait_ready_or_end(self, ready: asyncio.Event, limit_s: float) -> bool:
        """Wait for ``ready`` or the end of the peer; False on timeout."""
        waiters = {asyncio.ensure_future(ready.wait()), asyncio.ensure_future(self._ended.wait())}
        try:
            await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        return ready.is_set() or self._ended.is_set()

    # The bound is part of the API so no caller can wait forever.
    async def wait_connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until media is connected and the data channel is open.

        Raises:
            ConnectError: the connection failed, was closed, or timed out.
        """
        if not await self._wait_ready_or_end(self._ready, timeout):
            raise ConnectError(
                f"WebRTC peer did not connect within {timeout:g}s; "
                "check that both peers can reach each other (use loopback_only offline)"
            )
        if not self._ready.is_set():
            raise ConnectError(f"WebRTC connection failed: {self._end_reason}")

    async def send_event(
        self,
        event: Mapping[str, Any],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 (bounded wait for the channel to open)
    ) -> None:
        """Send one JSON event on the data channel, waiting (bounded) for it to open.

        Raises:
            TransportClosedError: the peer is closed or failed, or the channel never opened.
        """
        if not await self._wait_ready_or_end(self._channel_open, timeout):
            raise TransportClosedError(
                f"the WebRTC data channel is not open after {timeout:g}s; connect the peer first"
            )
        if self._ended.is_set() or self._channel is None:
            raise TransportClosedError(f"the WebRTC data channel is closed ({self._end_reason})")
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        try:
            self._channel.send(text)
        except Exception as exc:
            raise TransportClosedError(f"sending on the WebRTC data channel failed: {exc}") from exc

    # --- shutdown -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the peer, stop all owned tasks and end the iterators. Idempotent."""
        if self._state is PeerState.CLOSED:
            await self._closed.wait()
            return
        self._advance(PeerInput.CLOSE)
        self._end("closed locally")
        self._source.stop()
        try:
            async with asyncio.timeout(self._close_timeout):
                if self._pc is not None:
                    await self._pc.close()
        except TimeoutError:
            logger.warning(
                "closing the WebRTC peer timed out", extra={"timeout_s": self._close_timeout}
            )
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._closed.set()

    async def __aenter__(self) -> WebRtcPeer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

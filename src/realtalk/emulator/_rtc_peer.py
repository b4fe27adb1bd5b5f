"""The emulator's side of a WebRTC call: an aiortc answering peer.

One ``AnsweringPeer`` per ``POST /v1/realtime/calls``. It answers the client's offer
(ICE gathering completes first, so the answer SDP carries its candidates), hands the
client's microphone audio to ``on_audio`` as 24 kHz mono PCM16, plays the model's
output audio (``play_pcm24k``) on its outgoing track at real-time pace (silence when
idle), and exchanges JSON events over the client's ``oai-events`` data channel.

This is the emulator's own server-side code, written on aiortc directly (see
:mod:`realtalk.emulator._rtc_media`); it shares nothing with realtalk's client
transports, so the two cannot share a bug. Callbacks run on the event loop and must
not block; exceptions they raise are logged and swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtalk._errors import ConnectError, ProtocolError, TransportClosedError
from realtalk.emulator._rtc_media import OutputTrack, Pcm24kDecoder, loopback_candidates

__all__ = ["EVENTS_CHANNEL", "AnsweringPeer"]

logger = logging.getLogger(__name__)

EVENTS_CHANNEL: Final = "oai-events"
_CLOSE_TIMEOUT_S: Final = 5.0

AudioCallback = Callable[[bytes], None]
EventCallback = Callable[[dict[str, Any]], None]


class AnsweringPeer:
    """Answers one client offer and bridges its media to the emulator.

    Args:
        loopback_only: Offer only 127.0.0.1 ICE candidates (the emulator's default,
            since it serves on loopback and must work without network interfaces).
        on_audio: Receives the client's audio as pcm24k chunks (~20 ms). Settable
            later; audio arriving while it is ``None`` is discarded, never queued.
        on_event: Receives each JSON object from the client's ``oai-events`` channel.
            Settable later; events arriving while it is ``None`` are discarded.
        max_output_ms: Output audio the peer may hold ahead of playback. The model
            can produce audio much faster than real time; beyond this bound the oldest
            queued audio is dropped (logged).
    """

    def __init__(
        self,
        *,
        loopback_only: bool = True,
        on_audio: AudioCallback | None = None,
        on_event: EventCallback | None = None,
        max_output_ms: int = 300_000,
    ) -> None:
        self.on_audio = on_audio
        self.on_event = on_event
        self._loopback_only = loopback_only
        self._track = OutputTrack(max_buffered_ms=max_output_ms)
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._channel_open = asyncio.Event()
        self._connected = asyncio.Event()
        self._ended = asyncio.Event()
        self._end_reason = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def answer(self, offer_sdp: str) -> str:
        """Accept the client's offer and return the answer SDP (candidates included).

        Raises:
            ProtocolError: the offer is not valid SDP or has no audio track.
        """
        if self._pc is not None or self._closed:
            raise ProtocolError("this call already answered an offer")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # [] : no STUN lookups
        self._pc = pc
        pc.on("connectionstatechange", self._on_connection_state)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            if not any(t.kind == "audio" for t in pc.getTransceivers()):
                raise ValueError("the offer has no audio track")
            pc.addTrack(self._track)
            answer = await pc.createAnswer()
            scope = loopback_candidates() if self._loopback_only else contextlib.nullcontext()
            with scope:
                await pc.setLocalDescription(answer)
        except Exception as exc:
            self._end(f"invalid offer: {exc}")
            raise ProtocolError(f"invalid SDP offer: {exc}") from exc
        return str(pc.localDescription.sdp)

    # -- aiortc callbacks ------------------------------------------------------------

    def _on_connection_state(self) -> None:
        if self._pc is None:
            return
        state = self._pc.connectionState
        logger.debug("emulator call connection state", extra={"connection_state": state})
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            self._end(f"connection {state}")

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._pump_audio(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self._channel is not None:
            logger.debug("emulator ignores a data channel", extra={"label": channel.label})
            return
        self._channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._end("data channel closed"))
        if channel.readyState == "open":
            self._channel_open.set()
        else:
            channel.on("open", self._channel_open.set)

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes) or self._ended.is_set():
            return
        try:
            event = json.loads(message)
        except (ValueError, RecursionError):
            logger.debug("emulator ignores a non-JSON data-channel message")
            return
        if isinstance(event, dict) and self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("emulator on_event callback failed")

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        decoder = Pcm24kDecoder()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, AudioFrame) or self.on_audio is None:
                continue
            pcm = decoder.convert(frame)
            if pcm and not self._ended.is_set():
                try:
                    self.on_audio(pcm)
                except Exception:
                    logger.exception("emulator on_audio callback failed")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _end(self, reason: str) -> None:
        if not self._ended.is_set():
            self._end_reason = reason
            self._ended.set()

    # -- media and events ------------------------------------------------------------

    def play_pcm24k(self, data: bytes) -> None:
        """Queue model output audio (24 kHz mono PCM16) for the client."""
        self._track.push(data)

    def clear_audio(self) -> None:
        """Stop playback now: drop queued output audio (e.g. on interruption)."""
        self._track.clear()

    @property
    def output_buffered_ms(self) -> float:
        """Queued output audio not yet played, in milliseconds."""
        return self._track.buffered_ms

    @property
    def ended(self) -> bool:
        """True once the call's connection failed or the peer was closed."""
        return self._ended.is_set()

    async def wait_ended(self) -> None:
        """Return when the connection is lost or the peer is closed."""
        await self._ended.wait()

    async def _first(self, event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for ``event`` or the end of the call; False on timeout."""
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._ended.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        return event.is_set() or self._ended.is_set()

    async def wait_connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait (bounded) until media flows and the data channel is open.

        Raises:
            ConnectError: the connection failed or timed out.
        """
        if not await self._first(self._connected, timeout):
            raise ConnectError(f"the emulator's call did not connect within {timeout:g}s")
        if not await self._first(self._channel_open, timeout) or self._ended.is_set():
            raise ConnectError(f"the emulator's call failed: {self._end_reason or 'no channel'}")

    async def send_event(self, event: Mapping[str, Any], *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Send one JSON event to the client over ``oai-events``.

        Waits (bounded) for the channel, which opens shortly after the connection.

        Raises:
            TransportClosedError: the channel is closed or did not open in time.
        """
        if not await self._first(self._channel_open, timeout):
            raise TransportClosedError(f"the call's data channel did not open within {timeout:g}s")
        channel = self._channel
        if self._ended.is_set() or channel is None:
            raise TransportClosedError(f"the call's data channel is closed ({self._end_reason})")
        try:
            channel.send(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
        except Exception as exc:
            raise TransportClosedError(f"sending on the call's data channel failed: {exc}") from exc

    async def aclose(self) -> None:
        """Hang up: close the connection and stop playback. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._end("closed by the emulator")
        self._track.stop()
        try:
            if self._pc is not None:
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await self._pc.close()
        except TimeoutError:
            logger.warning("closing the emulator's call peer timed out")
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

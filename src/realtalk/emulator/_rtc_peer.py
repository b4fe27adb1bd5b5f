"""The emulator's side of a WebRTC call: an aiortc answering peer.

One ``AnsweringPeer`` per ``POST /v1/realtime/calls``. It answers the client's offer
(ICE gathering completes first, so the answer SDP carries its candidates), hands the
client's microphone audio to ``on_audio`` as 24 kHz mono PCM16, plays the model's
output audio (``play_pcm24k``) on its outgoing track at real-time pace (silence when
idle), and exchanges JSON events over the client's ``oai-events`` data channel.

It is self-contained apart from the shared media peer in ``realtalk.transports``, so
the emulator server and model can wire it however they like. Callbacks run on the
event loop and must not block; exceptions they raise are logged and swallowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from realtalk.transports import WebRtcPeer

__all__ = ["AnsweringPeer"]

logger = logging.getLogger(__name__)

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
        self._peer = WebRtcPeer(
            loopback_only=loopback_only,
            on_audio=self._dispatch_audio,
            on_event=self._dispatch_event,
            max_outgoing_ms=max_output_ms,
        )

    def _dispatch_audio(self, pcm: bytes) -> None:
        if self.on_audio is not None:
            self.on_audio(pcm)

    def _dispatch_event(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)
        else:
            logger.debug("data-channel event without a handler", extra={"type": event.get("type")})

    async def answer(self, offer_sdp: str) -> str:
        """Accept the client's offer and return the answer SDP (candidates included).

        Raises:
            ProtocolError: the offer is not valid SDP or has no audio track.
        """
        return await self._peer.accept_offer(offer_sdp)

    def play_pcm24k(self, data: bytes) -> None:
        """Queue model output audio (24 kHz mono PCM16) for the client."""
        self._peer.push_pcm24k(data)

    def clear_audio(self) -> None:
        """Stop playback now: drop queued output audio (e.g. on interruption)."""
        self._peer.clear_outgoing_audio()

    @property
    def output_buffered_ms(self) -> float:
        """Queued output audio not yet played, in milliseconds."""
        return self._peer.outgoing_buffered_ms

    @property
    def ended(self) -> bool:
        """True once the call's connection failed or the peer was closed."""
        return self._peer.ended

    async def wait_ended(self) -> None:
        """Return when the connection is lost or the peer is closed."""
        await self._peer.wait_ended()

    async def wait_connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait (bounded) until media flows and the data channel is open.

        Raises:
            ConnectError: the connection failed or timed out.
        """
        await self._peer.wait_connected(timeout)

    async def send_event(self, event: Mapping[str, Any], *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Send one JSON event to the client over ``oai-events``.

        Waits (bounded) for the channel, which opens shortly after the connection.

        Raises:
            TransportClosedError: the channel is closed or did not open in time.
        """
        await self._peer.send_event(event, timeout=timeout)

    async def aclose(self) -> None:
        """Hang up: close the connection and stop playback. Idempotent."""
        await self._peer.aclose()

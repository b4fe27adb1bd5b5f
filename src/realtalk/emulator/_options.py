"""Emulator configuration."""

from __future__ import annotations

import math

import msgspec

from realtalk._errors import ConfigError
from realtalk.emulator._responses import ResponsesOptions

__all__ = ["EmulatorOptions"]

_NON_NEGATIVE_KNOBS = (
    "handshake_latency_ms",
    "call_latency_ms",
    "sideband_latency_ms",
    "sideband_refuse_times",
)
_COUNT_KNOBS = (
    "close_after_events",
    "error_after_events",
    "binary_after_events",
    "malformed_after_events",
)


class EmulatorOptions(msgspec.Struct, kw_only=True, frozen=True):
    """How the emulator listens and behaves.

    Fault knobs count the server events sent on each realtime socket and fire once,
    right after the N-th event (N=0: right after the WebSocket accept, before any
    event). When several fire at the same count the order is malformed, binary,
    error, close.

    Attributes:
        host: Listen address.
        port: Listen port; 0 picks a free one.
        handshake_latency_ms: Delay before the WebSocket upgrade is accepted (101).
        close_after_events: Close the socket (code 1000) after N server events.
        error_after_events: Send an ``error`` event (``server_error``) after N events.
        binary_after_events: Send one binary frame after N events.
        malformed_after_events: Send one text frame that is not valid JSON after N
            events, then carry on.
        max_session_s: The session cap: N seconds after a realtime socket was accepted,
            send the real API's ``session_expired`` error ("Your session hit the maximum
            duration of ...") and close with code 1001 and the same reason; a call's
            sideband socket also ends its call. None: no cap.
        echo_audio: Benchmark mode: answer every ``input_audio_buffer.append`` with one
            output audio delta carrying the same audio; no VAD.
        audio_realtime: Pace output audio at real time (20 ms chunks); False sends it
            as fast as the socket allows (tests).
        tls: Serve https/wss with a fresh trustme CA (see ``Emulator.ca_path``).
        speech_transcripts: Transcripts for committed audio turns, used in turn
            (k mod len); empty means ``(speech X.Xs)``.
        auto_respond_to_text: Answer every user text item without waiting for
            ``response.create`` (clients whose text input is append-only).
        record: Keep every client message and server event in the session records;
            False keeps only counters (long benchmarks).
        call_latency_ms: Total time ``POST /v1/realtime/calls`` takes to answer, the
            emulator's own SDP work included (it waits only for what remains).
        sideband_latency_ms: Total time until a sideband handshake
            (``/v1/realtime?call_id=``) completes, counted from its arrival.
        call_status_500: Fault: answer every call creation with HTTP 500.
        call_missing_location: Fault: answer 201 with the SDP but no ``Location``.
        call_location_without_id: Fault: answer 201 with ``Location`` set to the
            request path (no ``rtc_`` segment).
        sideband_refuse_times: Fault: refuse the first N sideband handshakes of the
            emulator (all calls together) with HTTP 503.
        sideband_never: Fault: refuse every sideband handshake with HTTP 503.
        responses: Latency and faults of ``/v1/responses`` (the agent's model API).
    """

    host: str = "127.0.0.1"
    port: int = 0
    handshake_latency_ms: int = 0
    close_after_events: int | None = None
    error_after_events: int | None = None
    binary_after_events: int | None = None
    malformed_after_events: int | None = None
    max_session_s: float | None = None
    echo_audio: bool = False
    audio_realtime: bool = True
    tls: bool = False
    speech_transcripts: tuple[str, ...] = ()
    auto_respond_to_text: bool = False
    record: bool = True
    call_latency_ms: int = 0
    sideband_latency_ms: int = 0
    call_status_500: bool = False
    call_missing_location: bool = False
    call_location_without_id: bool = False
    sideband_refuse_times: int = 0
    sideband_never: bool = False
    responses: ResponsesOptions = msgspec.field(default_factory=ResponsesOptions)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"emulator port must be 0..65535, got {self.port}")
        for name in _NON_NEGATIVE_KNOBS:
            value = getattr(self, name)
            if value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
        cap = self.max_session_s
        if cap is not None and not (math.isfinite(cap) and cap > 0):
            raise ConfigError(f"max_session_s must be more than 0 or unset, got {cap}")
        for name in _COUNT_KNOBS:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must be >= 0 or unset, got {value}")

"""Startup benchmark: WebRTC start with the sideband joined off the critical path.

``bench_startup`` runs ``realtalk emulator`` in a separate process with a call
latency and a sideband handshake latency, then performs K WebRTC starts with this
design (``ConversationManager``) and K with the sequential baseline, interleaved in
the same run. The baseline is the pre-change behaviour built here from the public
pieces (``create_call``, ``connect_realtime``, the protocol's session payloads): the
sideband is joined and ``session.update`` sent before the SDP answer is handed out.
It skips the manager's own bookkeeping, so it errs in the baseline's favour. Each
start uses a real local aiortc offer (ICE is never completed: only the SDP is needed).

Measured per start, from the moment ``start()`` is called:

* ``sdp_ms``: until the ``SdpAnswer`` event reaches a subscriber;
* ``sideband_ready_ms``: until the sideband socket is connected and the
  ``session.update`` frame is handed to it (the first outbound sideband frame, seen
  through the manager's wire tap);
* ``first_text_ms``: for a text sent right after ``start()`` returns, until the
  emulator's ``conversation.item.added`` for that text comes back on the sideband
  (the emulator runs in another process, so its ack is the observable arrival).

The report holds the medians, and ``sdp_ratio`` = ours / baseline for ``sdp_ms``.
One unmeasured start per design warms up imports, codecs and the loopback path.
The startup context is set to ``""`` so the workspace scan does not add noise.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
from typing import Any, Final

from realtalk._config import Settings
from realtalk._errors import RealtalkError
from realtalk.bench._util import realtalk_argv, spawn_ready
from realtalk.conversation import ConversationManager, SdpAnswer, StartParams, WebRtcTransport
from realtalk.protocol import (
    DEFAULT_BACKEND_PROMPT,
    ServerEventParser,
    SessionConfig,
    build_instructions,
    call_session_json,
    realtime_headers,
    realtime_ws_url,
    resolve_backend_prompt,
    resolve_voice,
    session_update,
    user_text_item,
)
from realtalk.transports import WebRtcPeer, connect_realtime, create_call

__all__ = ["bench_startup"]

logger = logging.getLogger(__name__)

_START_MARGIN_S: Final = 15.0
_METRICS: Final = ("sdp_ms", "sideband_ready_ms", "first_text_ms")


class _StartProbe:
    """Timestamps of one start, fed by the wire tap and the subscription."""

    def __init__(self, marker: str) -> None:
        self.marker = marker.encode()
        self.t0 = 0.0
        self.sdp: float | None = None
        self.sideband_ready: float | None = None
        self.first_text: float | None = None
        self.sdp_seen = asyncio.Event()
        self.text_seen = asyncio.Event()

    def tap(self, direction: str, data: bytes) -> None:
        now = time.perf_counter()
        if direction == "out":
            if self.sideband_ready is None and b'"session.update"' in data:
                self.sideband_ready = now
        elif (
            self.first_text is None and b'"conversation.item.added"' in data and self.marker in data
        ):
            self.first_text = now
            self.text_seen.set()

    def result(self) -> dict[str, float]:
        values = (self.sdp, self.sideband_ready, self.first_text)
        if any(v is None for v in values):
            raise RealtalkError(f"a benchmark start did not complete: {values}")
        return {
            name: (value - self.t0) * 1000.0
            for name, value in zip(_METRICS, values, strict=True)
            if value is not None
        }


async def _one_start(settings: Settings, *, sequential: bool, limit_s: float) -> dict[str, float]:
    probe = _StartProbe(f"bench-{uuid.uuid4().hex[:12]}")
    async with WebRtcPeer(loopback_only=True) as peer:
        offer = await peer.create_offer()  # before t0: the client's own offer is not measured
        try:
            async with asyncio.timeout(limit_s):
                probe.t0 = time.perf_counter()
                if sequential:
                    await _sequential_start(settings, offer, probe)
                else:
                    await _manager_start(settings, offer, probe)
        except TimeoutError as exc:
            raise RealtalkError(
                f"a benchmark start did not finish within {limit_s:g}s; "
                "check the emulator's latency flags"
            ) from exc
    return probe.result()


async def _manager_start(settings: Settings, offer: str, probe: _StartProbe) -> None:
    """This design: ``Started``/``SdpAnswer`` come out while the sideband joins."""
    manager = ConversationManager(settings, tap=probe.tap)
    subscription = manager.subscribe()

    async def watch() -> None:
        async for event in subscription:
            if isinstance(event, SdpAnswer) and probe.sdp is None:
                probe.sdp = time.perf_counter()
                probe.sdp_seen.set()

    async with asyncio.TaskGroup() as group:
        watcher = group.create_task(watch())
        try:
            await manager.start(StartParams(transport=WebRtcTransport(offer)))
            await manager.text_in(probe.marker.decode())
            await probe.sdp_seen.wait()
            await probe.text_seen.wait()
        finally:
            await manager.aclose()  # closes the subscription, which ends the watcher
            watcher.cancel()


async def _sequential_start(settings: Settings, offer: str, probe: _StartProbe) -> None:
    """The baseline: create the call, join the sideband, and only then hand out the SDP."""
    prompt = resolve_backend_prompt(settings.backend_prompt, None, DEFAULT_BACKEND_PROMPT)
    config = SessionConfig(
        instructions=build_instructions(prompt, settings.startup_context or ""),
        model=settings.model,
        version=settings.version,
        mode=settings.mode,
        output_modality=settings.output_modality,
        voice=resolve_voice(settings.version, None, settings.voice),
        session_id=f"bench_{uuid.uuid4().hex[:12]}",
    )
    assert config.session_id is not None
    headers = realtime_headers(
        config.version, api_key=settings.api_key, session_id=config.session_id
    )
    call = await create_call(
        settings.base_url,
        offer_sdp=offer,
        session_json=call_session_json(config),
        headers=headers,
    )
    url = realtime_ws_url(
        settings.ws_base_url,
        version=config.version,
        mode=config.mode,
        model=None,
        call_id=call.call_id,
    )
    conn = await connect_realtime(url, headers, ServerEventParser(config.version), tap=probe.tap)
    try:
        await conn.send(session_update(config))
        probe.sdp = time.perf_counter()  # the answer is handed out only now
        await conn.send(user_text_item(config.version, probe.marker.decode()))
        while not probe.text_seen.is_set():
            if await conn.next_event() is None:
                raise RealtalkError("the sideband closed before the text was acknowledged")
    finally:
        await conn.aclose()


def _medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {name: round(statistics.median(s[name] for s in samples), 1) for name in _METRICS}


async def bench_startup(
    starts: int = 20, call_latency_ms: int = 300, sideband_latency_ms: int = 400
) -> dict[str, Any]:
    """Run the startup benchmark (see the module docs); returns the JSON-ready report."""
    if starts < 1:
        raise ValueError(f"starts must be >= 1, got {starts}")
    limit_s = (call_latency_ms + sideband_latency_ms) / 1000.0 + _START_MARGIN_S
    ours: list[dict[str, float]] = []
    baseline: list[dict[str, float]] = []
    argv = realtalk_argv(
        "emulator",
        "--port",
        "0",
        "--call-latency-ms",
        str(call_latency_ms),
        "--sideband-latency-ms",
        str(sideband_latency_ms),
    )
    async with spawn_ready(argv) as (base_url, _):
        settings = Settings(
            api_key="bench", base_url=base_url, startup_context="", transport="webrtc"
        )
        for sequential in (False, True):  # warm-up, not measured
            await _one_start(settings, sequential=sequential, limit_s=limit_s)
        for index in range(starts):
            # Alternate which design goes first so drift affects both alike.
            order = (False, True) if index % 2 == 0 else (True, False)
            for sequential in order:
                sample = await _one_start(settings, sequential=sequential, limit_s=limit_s)
                (baseline if sequential else ours).append(sample)
    ours_medians, baseline_medians = _medians(ours), _medians(baseline)
    ratio = (
        ours_medians["sdp_ms"] / baseline_medians["sdp_ms"] if baseline_medians["sdp_ms"] else 0.0
    )
    report = {
        "call_latency_ms": call_latency_ms,
        "sideband_latency_ms": sideband_latency_ms,
        "starts": starts,
        "ours": ours_medians,
        "baseline": baseline_medians,
        "sdp_ratio": round(ratio, 3),
    }
    logger.info("startup benchmark done", extra={"report": report})
    return report

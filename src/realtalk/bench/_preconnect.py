"""``realtalk bench preconnect``: what the startup preconnect saves on the first turn.

One run starts a Responses emulator on 127.0.0.1 with a given handshake latency and
measures, per sample, the time from turn start to the first request frame arriving
at the emulator (both clocks are ``time.perf_counter`` in this process). Each sample
uses a fresh client, i.e. a fresh session whose first turn is measured:

* with preconnect: the session warms its socket at start and the sample begins once
  it is ready (a user speaks after session start), so the turn only sends;
* without: the turn pays for the handshake itself.

Samples alternate between the two modes so drift affects both alike.
"""

from __future__ import annotations

import statistics
import time
from typing import Final

from aiohttp import web

from realtalk._errors import AgentError, ConfigError
from realtalk.agent import ModelClient, ModelClientOptions, Prompt
from realtalk.emulator import ResponsesEmulator, ResponsesOptions
from realtalk.protocol.responses import user_message

__all__ = ["bench_preconnect"]

_PREPARE_TIMEOUT_S: Final = 30.0


async def bench_preconnect(turns: int, handshake_latency_ms: int) -> dict[str, float | int]:
    """Median first-request latency with and without preconnect, in one run.

    Returns:
        ``{"handshake_latency_ms", "turns", "with_preconnect_ms",
        "without_preconnect_ms", "ratio"}`` (ratio = with / without).

    Raises:
        ConfigError: ``turns`` < 1 or a negative latency.
        AgentError: The emulator did not behave (e.g. a preconnect failed).
    """
    if turns < 1 or handshake_latency_ms < 0:
        raise ConfigError("bench preconnect needs turns >= 1 and handshake latency >= 0 ms")
    emulator = ResponsesEmulator(ResponsesOptions(handshake_latency_ms=handshake_latency_ms))
    app = web.Application()
    emulator.install(app)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base_url = f"http://{host}:{port}/v1"
        with_ms: list[float] = []
        without_ms: list[float] = []
        for _ in range(turns):
            with_ms.append(await _first_request_ms(base_url, emulator, preconnect=True))
            without_ms.append(await _first_request_ms(base_url, emulator, preconnect=False))
    finally:
        await runner.cleanup()
    with_median = statistics.median(with_ms)
    without_median = statistics.median(without_ms)
    return {
        "handshake_latency_ms": handshake_latency_ms,
        "turns": turns,
        "with_preconnect_ms": round(with_median, 3),
        "without_preconnect_ms": round(without_median, 3),
        "ratio": round(with_median / without_median, 4) if without_median > 0 else 0.0,
    }


async def _first_request_ms(
    base_url: str, emulator: ResponsesEmulator, *, preconnect: bool
) -> float:
    options = ModelClientOptions(stream_max_retries=0, connect_timeout_s=_PREPARE_TIMEOUT_S)
    client = ModelClient(base_url, api_key="bench", options=options)
    prompt = Prompt(model="bench", instructions="", input=[user_message("ping")])
    try:
        if preconnect:
            await client.pre_establish_connection()
            if not await client.wait_for_preconnect(_PREPARE_TIMEOUT_S):
                raise AgentError("bench: the preconnect did not complete")
        seen = len(emulator.requests)
        started = time.perf_counter()
        async with client.new_session() as session:
            await session.complete(prompt)
        requests = emulator.requests
        if len(requests) <= seen:
            raise AgentError("bench: the emulator saw no request")
        return (requests[seen].received_at - started) * 1000.0
    finally:
        await client.aclose()

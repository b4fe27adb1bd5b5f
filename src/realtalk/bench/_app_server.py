"""``realtalk bench app-server``: realtime threads over one WebSocket listener.

Three processes, all on loopback: the emulator (``--echo-audio``: every audio
append comes back as one output delta with the same bytes), the app-server
(``--listen ws://127.0.0.1:0``) and this load generator, which opens one
connection with S threads, starts a realtime conversation on each, and appends a
20 ms frame to every thread 50 times a second. Independent clients are not
phase-locked, so the threads send in 10 groups spread over each 20 ms period
rather than all at once.

Each frame carries a tag (thread index and sequence number in its first bytes),
so the output-audio notification that echoes it gives its latency: arrival time
minus the frame's send time, both measured in this process. ``cpu_percent`` is the
app-server process's CPU time over the measurement window.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import math
import os
import struct
import sys
import time
from typing import Any, Final

import aiohttp
import msgspec

from realtalk.app_server import NotificationMethod, RequestMethod
from realtalk.bench._util import percentile, proc_cpu_s, spawn_ready
from realtalk.protocol import encode_request

__all__ = ["bench_app_server"]

_FRAME_BYTES: Final = 960  # 20 ms of 24 kHz mono PCM16
_FRAME_S: Final = 0.02
_SLOTS: Final = 10
"""Threads send in this many groups spread over each 20 ms (clients are not phase-locked)."""
_TAG: Final = struct.Struct(">IIx")  # thread index, sequence, pad: 9 bytes = 12 base64 chars
_TAIL_B64: Final = base64.b64encode(bytes(_FRAME_BYTES - _TAG.size)).decode("ascii")
_STARTUP_TIMEOUT_S: Final = 60.0
_DRAIN_TIMEOUT_S: Final = 2.0


def _frame(index: int, seq: int) -> str:
    return base64.b64encode(_TAG.pack(index, seq)).decode("ascii") + _TAIL_B64


async def bench_app_server(threads: int = 100, seconds: float = 5.0) -> dict[str, Any]:
    """Run the benchmark; ``{"threads", "p50_ms", "p99_ms", "cpu_percent", ...}``."""
    python = sys.executable
    async with spawn_ready(
        [python, "-m", "realtalk", "emulator", "--port", "0", "--echo-audio"]
    ) as (
        emulator_url,
        emulator_pid,
    ):
        env = {
            **os.environ,
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": emulator_url,
            "REALTALK_STARTUP_CONTEXT": "",
        }
        server_argv = [python, "-m", "realtalk.app_server", "--listen", "ws://127.0.0.1:0"]
        async with spawn_ready(server_argv, env) as (server_url, server_pid):
            return await _measure(server_url, (server_pid, emulator_pid), threads, seconds)


class _Driver:
    """A lean JSON-RPC driver for the load (the typed client costs more per message).

    Setup calls wait for their answers; audio appends are fire-and-forget requests
    whose ``{}`` answers are only checked for errors.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, threads: int) -> None:
        self.ws = ws
        self.sent: list[dict[int, float]] = [{} for _ in range(threads)]
        self.latencies: list[float] = []
        self.errors = 0
        self.started: set[str] = set()
        self.all_started = asyncio.Event()
        self.all_echoed = asyncio.Event()
        self.expected = math.inf
        self.measuring = False
        self._threads = threads
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)

    async def call(self, method: str, params: Any) -> Any:
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        await self.ws.send_str(encode_request(rid, method, params).decode())
        async with asyncio.timeout(_STARTUP_TIMEOUT_S):
            return await future

    def _audio(self, text: str) -> None:
        if not self.measuring:
            return
        now = time.perf_counter()
        at = text.find(_DATA_KEY) + len(_DATA_KEY)
        index, seq = _TAG.unpack(base64.b64decode(text[at : at + 12]))
        t_sent = self.sent[index].pop(seq, None)
        if t_sent is not None:
            self.latencies.append((now - t_sent) * 1000.0)
            if len(self.latencies) >= self.expected:
                self.all_echoed.set()

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            text: str = msg.data
            if text.startswith(_AUDIO_PREFIX):
                self._audio(text)
            elif text.startswith('{"id":') and '"error"' not in text:
                message = msgspec.json.decode(text)
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message["result"])
            else:
                self._other(msgspec.json.decode(text))

    def _other(self, message: dict[str, Any]) -> None:
        if "error" in message:
            self.errors += 1
            future = self._pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_exception(RuntimeError(message["error"]["message"]))
        elif message.get("method") == NotificationMethod.REALTIME_STARTED:
            self.started.add(message["params"]["threadId"])
            if len(self.started) == self._threads:
                self.all_started.set()
        elif message.get("method") == NotificationMethod.REALTIME_ERROR:
            self.errors += 1


_AUDIO_PREFIX: Final = f'{{"method":"{NotificationMethod.REALTIME_OUTPUT_AUDIO_DELTA}"'
_DATA_KEY: Final = '"data":"'
_APPEND: Final = (
    '{{"id":{rid},"method":"{method}","params":{{"threadId":"{tid}",'
    '"audio":{{"data":"{data}","sampleRate":24000,"numChannels":1}}}}}}'
).replace("{method}", RequestMethod.REALTIME_APPEND_AUDIO)


async def _measure(url: str, pids: tuple[int, int], threads: int, seconds: float) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, compress=0, max_msg_size=0, autoping=True) as ws,
    ):
        driver = _Driver(ws, threads)
        reader = asyncio.create_task(driver.read())
        try:
            return await _run(driver, pids, threads, seconds)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _run(
    driver: _Driver, pids: tuple[int, int], threads: int, seconds: float
) -> dict[str, Any]:
    server_pid, emulator_pid = pids
    await driver.call(
        RequestMethod.INITIALIZE,
        {"clientInfo": {"name": "realtalk_bench"}, "capabilities": {"experimentalApi": True}},
    )
    ids: list[str] = []
    for _ in range(threads):
        ids.append((await driver.call(RequestMethod.THREAD_START, {}))["thread"]["id"])
    for tid in ids:
        params = {"threadId": tid, "outputModality": "audio"}
        await driver.call(RequestMethod.REALTIME_START, params)
    async with asyncio.timeout(_STARTUP_TIMEOUT_S):
        await driver.all_started.wait()
    driver.measuring = True
    ws, sent = driver.ws, driver.sent
    slots = [list(enumerate(ids))[k::_SLOTS] for k in range(_SLOTS)]
    rid = 1_000_000
    cpu0, t0 = proc_cpu_s(server_pid), time.perf_counter()
    others0 = proc_cpu_s(emulator_pid), proc_cpu_s(os.getpid())
    tick = 0
    while time.perf_counter() - t0 < seconds:
        for k, slot in enumerate(slots):
            delay = t0 + tick * _FRAME_S + k * _FRAME_S / _SLOTS - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            for i, tid in slot:
                rid += 1
                message = _APPEND.format(rid=rid, tid=tid, data=_frame(i, tick))
                sent[i][tick] = time.perf_counter()
                await ws.send_str(message)
        tick += 1
    wall = time.perf_counter() - t0
    cpu = proc_cpu_s(server_pid) - cpu0
    emulator_cpu = proc_cpu_s(emulator_pid) - others0[0]
    driver_cpu = proc_cpu_s(os.getpid()) - others0[1]
    driver.expected = tick * threads
    if len(driver.latencies) >= driver.expected:
        driver.all_echoed.set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_TIMEOUT_S):
            await driver.all_echoed.wait()
    driver.measuring = False
    latencies = driver.latencies
    return {
        "threads": threads,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "cpu_percent": round(cpu / wall * 100.0, 1),
        "emulator_cpu_percent": round(emulator_cpu / wall * 100.0, 1),
        "driver_cpu_percent": round(driver_cpu / wall * 100.0, 1),
        "seconds": round(wall, 2),
        "frames_sent": tick * threads,
        "frames_echoed": len(latencies),
        "errors": driver.errors,
    }

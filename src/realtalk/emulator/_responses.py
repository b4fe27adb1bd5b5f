"""Offline Responses API: ``/v1/responses`` over HTTP (JSON or SSE) and WebSocket.

:class:`ResponsesEmulator` adds its routes to any ``aiohttp.web.Application``:

* ``POST /v1/responses``: one JSON ``Response`` (``stream`` false or absent), or the
  streamed events as ``text/event-stream`` (``stream: true``).
* ``GET /v1/responses`` (WebSocket upgrade, as ``client.responses.connect()`` opens
  it): every text frame is one ``response.create``; events stream back on the same
  socket (``stream`` is implicit; a ``stream_id`` is echoed in its events). The 101
  answer carries ``x-codex-turn-state: ts-<n>``.
* ``GET /v1/responses/{id}`` (``?stream=true&starting_after=N`` replays the stored
  events after N) and ``DELETE /v1/responses/{id}``.
* ``GET /_emulator/stats``: handshake and request counts as JSON.

Turns chain with ``previous_response_id``: a stored response (``store`` true, the
API default) is found from either transport; a WebSocket also remembers its own most
recent response, so ``store: false`` chains work on one socket (as the real API's
WebSocket mode does). An unknown id is a 400 ``previous_response_not_found``. The
store keeps the latest :data:`STORE_LIMIT` responses.

What the model answers is defined in :mod:`realtalk.emulator._script`. Faults
(:class:`ResponsesOptions`): delay every handshake, refuse upgrades with 426, fail the
first N handshakes with 500, close before ``response.completed``, or close the
socket after each completed response.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

from aiohttp import WSMsgType, web

from realtalk.emulator._responses_model import encode, scripted_reply
from realtalk.emulator._responses_records import (
    RecordedHandshake,
    RecordedRequest,
    ResponsesOptions,
    ResponsesStats,
)
from realtalk.emulator._responses_store import STORE_LIMIT, ResponseStore, Stored
from realtalk.emulator._responses_wire import RequestError, decode_json, parse_request

__all__ = [
    "STORE_LIMIT",
    "TURN_STATE_HEADER",
    "RecordedHandshake",
    "RecordedRequest",
    "ResponsesEmulator",
    "ResponsesOptions",
    "ResponsesStats",
    "scripted_reply",
]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
TURN_STATE_HEADER: Final = "x-codex-turn-state"
_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024


class ResponsesEmulator:
    """The emulated Responses endpoint (mount with :meth:`install`)."""

    def __init__(self, options: ResponsesOptions | None = None, *, record: bool = True) -> None:
        self.options = options or ResponsesOptions()
        self._record_bodies = record
        self._handshakes: list[RecordedHandshake] = []
        self._requests: list[RecordedRequest] = []
        self._failures_left = self.options.fail_handshakes
        self._turn_states = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: set[web.WebSocketResponse] = set()
        self.store = ResponseStore()

    def install(
        self, app: web.Application, *, prefix: str = "/v1", stats_path: str = "/_emulator/stats"
    ) -> None:
        """Add the routes to ``app`` (before it starts)."""
        path = prefix.rstrip("/") + "/responses"
        app.router.add_get(path, self._handle_websocket)
        app.router.add_post(path, self._handle_http)
        app.router.add_get(path + "/{response_id}", self._handle_retrieve)
        app.router.add_delete(path + "/{response_id}", self._handle_delete)
        app.router.add_get(stats_path, self._handle_stats)
        app.on_shutdown.append(self._close_sockets)

    @property
    def stats(self) -> ResponsesStats:
        """Current counts."""
        return ResponsesStats(
            handshakes=len(self._handshakes),
            failed_handshakes=sum(1 for h in self._handshakes if h.status != 101),
            websocket_requests=sum(1 for r in self._requests if r.transport == "websocket"),
            http_requests=sum(1 for r in self._requests if r.transport == "http"),
        )

    @property
    def handshakes(self) -> list[RecordedHandshake]:
        """Every upgrade request so far, in arrival order."""
        return list(self._handshakes)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far (both transports), in arrival order."""
        return list(self._requests)

    async def wait_for_handshakes(self, n: int, timeout_s: float) -> bool:
        """Wait until at least ``n`` upgrade requests arrived; False on timeout."""
        return await self._wait_until(lambda: len(self._handshakes) >= n, timeout_s)

    async def wait_for_requests(self, n: int, timeout_s: float) -> bool:
        """Wait until at least ``n`` requests arrived; False on timeout."""
        return await self._wait_until(lambda: len(self._requests) >= n, timeout_s)

    # -- WebSocket -----------------------------------------------------------------------

    async def _handle_websocket(self, request: web.Request) -> web.StreamResponse:
        received_at = time.perf_counter()
        headers = {k.lower(): v for k, v in request.headers.items()}
        ws = web.WebSocketResponse(max_msg_size=_MAX_MESSAGE_BYTES, autoping=True)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade\n")
        index = len(self._handshakes) + 1
        if self._failures_left > 0:
            self._failures_left -= 1
            status = 500
        elif self.options.refuse_upgrade_426:
            status = 426
        else:
            status = 101
        await self._record(RecordedHandshake(index, headers, status, received_at))
        if status == 500:
            return web.Response(status=500, text="emulated handshake failure\n")
        if status == 426:
            return web.Response(status=426, text="upgrade required: use HTTP\n")
        if self.options.handshake_latency_ms > 0:
            await asyncio.sleep(self.options.handshake_latency_ms / 1000)
            if _closing(request):
                return web.Response(status=499)  # the client gave up while we waited
        ws.headers[TURN_STATE_HEADER] = f"ts-{next(self._turn_states)}"
        await ws.prepare(request)
        self._sockets.add(ws)
        socket = _Socket(ws, index, headers)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    try:
                        more = await self._websocket_request(socket, message.data)
                    except (ConnectionError, RuntimeError) as exc:
                        # RuntimeError: older aiohttp says "closing transport".
                        if (
                            isinstance(exc, RuntimeError)
                            and not ws.closed
                            and not _closing(request)
                        ):
                            raise
                        _client_left("websocket", exc)
                        break
                    if not more:
                        break
                elif message.type is WSMsgType.BINARY:
                    await ws.close(code=1003, message=b"binary frames are not supported")
        finally:
            self._sockets.discard(ws)
        return ws

    async def _websocket_request(self, socket: _Socket, data: str) -> bool:
        """Answer one frame; False once the socket was closed."""
        received_at = time.perf_counter()
        body, problem = decode_json(data)
        recorded = RecordedRequest(
            "websocket",
            body if isinstance(body, dict) and self._record_bodies else {},
            socket.headers,
            socket.index,
            received_at,
        )
        await self._record(recorded)
        try:
            if problem is not None:
                raise problem
            if not isinstance(body, dict):
                raise RequestError(
                    "A WebSocket message must be a JSON object.", code="invalid_json"
                )
            if body.get("type") != "response.create":
                raise RequestError(
                    f"Invalid value: '{body.get('type')}'. Supported values are: "
                    "'response.create'.",
                    param="type",
                    code="invalid_value",
                )
            parsed = parse_request(body, websocket=True)
            turn = self.store.answer(parsed, socket.last)
        except RequestError as exc:
            socket.last = None  # a failed turn evicts the socket's cached response
            error = {"type": "error", "status": exc.status, "error": exc.body()}
            if isinstance(body, dict) and isinstance(body.get("stream_id"), str):
                error["stream_id"] = body["stream_id"]
            await socket.ws.send_str(encode(error).decode())
            recorded.events.append(error)
            return True
        socket.last = turn.stored
        for sequence, event in enumerate(turn.events):
            if event["type"] == "response.completed" and self.options.close_before_completed:
                await socket.ws.close()
                return False
            sent = {**event, "sequence_number": sequence}
            if parsed.stream_id is not None:
                sent["stream_id"] = parsed.stream_id
            await socket.ws.send_str(encode(sent).decode())
            if self._record_bodies:
                recorded.events.append(sent)
        if self.options.close_after_completed:
            await socket.ws.close()
            return False
        return True

    # -- HTTP ----------------------------------------------------------------------------

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        received_at = time.perf_counter()
        headers = {k.lower(): v for k, v in request.headers.items()}
        body, problem = decode_json(await request.read())
        recorded = RecordedRequest(
            "http",
            body if isinstance(body, dict) and self._record_bodies else {},
            headers,
            None,
            received_at,
        )
        await self._record(recorded)
        try:
            if problem is not None:
                raise problem
            parsed = parse_request(body, websocket=False)
            turn = self.store.answer(parsed)
        except RequestError as exc:
            recorded.events.append({"error": exc.body()})
            return web.json_response(
                {"error": exc.body()}, status=exc.status, headers=self._http_headers()
            )
        if not parsed.stream:
            if self.options.close_before_completed:
                raise web.HTTPInternalServerError(text="emulated failure before completion")
            if self._record_bodies:
                recorded.events.append(turn.completed)
            return web.json_response(turn.completed, headers=self._http_headers())
        events = [{**e, "sequence_number": i} for i, e in enumerate(turn.events)]
        if self.options.close_before_completed:
            events = events[:-1]
        if self._record_bodies:
            recorded.events.extend(events)
        return await _send_sse(request, events, self._http_headers())

    async def _handle_retrieve(self, request: web.Request) -> web.StreamResponse:
        stored = self.store.get(request.match_info["response_id"])
        if stored is None:
            return _not_found(request.match_info["response_id"])
        if request.query.get("stream") != "true":
            return web.json_response(stored.response)
        try:
            after = int(request.query.get("starting_after", "-1"))
        except ValueError:
            error = RequestError(
                "Invalid 'starting_after': expected an integer.", param="starting_after"
            )
            return web.json_response({"error": error.body()}, status=400)
        events = [{**e, "sequence_number": i} for i, e in enumerate(stored.events) if i > after]
        return await _send_sse(request, events, self._http_headers())

    async def _handle_delete(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        if not self.store.delete(response_id):
            return _not_found(response_id)
        return web.json_response({"id": response_id, "object": "response", "deleted": True})

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.stats))

    # -- helpers -------------------------------------------------------------------------

    def _http_headers(self) -> dict[str, str]:
        return {
            TURN_STATE_HEADER: f"ts-{next(self._turn_states)}",
            "x-request-id": f"req_{secrets.token_hex(16)}",
        }

    async def _record(self, entry: RecordedHandshake | RecordedRequest) -> None:
        async with self._changed:
            if isinstance(entry, RecordedHandshake):
                self._handshakes.append(entry)
            else:
                self._requests.append(entry)
            self._changed.notify_all()

    async def _wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            return predicate()
        return True

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutdown")


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    index: int
    headers: dict[str, str]
    last: Stored | None = None


async def _send_sse(
    request: web.Request, events: list[JsonDict], headers: dict[str, str]
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers}
    )
    try:
        await response.prepare(request)
        for event in events:
            frame = b"event: " + event["type"].encode() + b"\ndata: " + encode(event) + b"\n\n"
            await response.write(frame)
        await response.write_eof()
    except ConnectionError as exc:
        _client_left("http", exc)
    except RuntimeError as exc:  # older aiohttp: "closing transport"
        if not _closing(request):
            raise
        _client_left("http", exc)
    return response


def _not_found(response_id: str) -> web.Response:
    error = RequestError(f"Response with id '{response_id}' not found.", param="response_id")
    return web.json_response({"error": error.body()}, status=404)


def _closing(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _client_left(transport: str, exc: Exception) -> None:
    """A client that disconnects mid-stream is normal: end the stream quietly."""
    logger.debug(
        "emulator responses client went away mid-stream",
        extra={"transport": transport, "error": str(exc)},
    )

"""Offline Responses API: ``/v1/responses`` over WebSocket and HTTP + SSE.

:class:`ResponsesEmulator` adds its routes to any ``aiohttp.web.Application``:

* ``GET /v1/responses`` (WebSocket upgrade). Each handshake is counted on arrival;
  the 101 answer carries ``x-codex-turn-state: ts-<n>``. Every text frame is one
  ``response.create`` (full, or ``previous_response_id`` + new items, resolved
  against earlier responses of the same socket).
* ``POST /v1/responses`` (``text/event-stream``), same events; the response headers
  also carry a fresh ``x-codex-turn-state``.
* ``GET /_emulator/stats``: handshake and request counts as JSON.

The model is scripted and deterministic. The latest user message or tool output
decides: a user text containing a backticked command ("run `echo hi`") yields a
``shell`` function call with that command as argv; one containing a ``*** Begin
Patch`` block yields an ``apply_patch`` call (see ``_script.patch_in``); a
``function_call_output`` yields an answer quoting the tool output; any other text
yields ``You said: <text>``.

Faults (:class:`ResponsesOptions`): delay every handshake, refuse upgrades with 426,
fail the first N handshakes with 500, close before ``response.completed``, or close
the socket after each completed response.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import msgspec
from aiohttp import WSMsgType, web

from realtalk._errors import ProtocolError
from realtalk.emulator._script import APPLY_PATCH_TOOL, patch_in
from realtalk.protocol.responses import (
    TURN_STATE_HEADER,
    ErrorEvent,
    Item,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
    ResponseCreated,
    ResponseInfo,
    ResponsesEvent,
    as_function_call,
    assistant_message,
    decode_http_request,
    decode_ws_request,
    encode_event,
    encode_sse,
    function_call,
    message_text,
)

__all__ = [
    "RecordedHandshake",
    "RecordedRequest",
    "ResponsesEmulator",
    "ResponsesOptions",
    "ResponsesStats",
    "scripted_reply",
]

logger = logging.getLogger(__name__)

_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_COMMAND: Final = re.compile(r"`([^`\n]+)`")
_MAX_ECHO: Final = 1000


@dataclass(frozen=True, kw_only=True)
class ResponsesOptions:
    """Latency and faults of the emulated Responses endpoint."""

    handshake_latency_ms: int = 0
    """Delay before answering each WebSocket upgrade."""
    refuse_upgrade_426: bool = False
    """Answer every upgrade with HTTP 426 (no WebSocket support)."""
    close_before_completed: bool = False
    """Close the socket / end the SSE stream instead of sending ``response.completed``."""
    close_after_completed: bool = False
    """Close the WebSocket right after each ``response.completed``."""
    fail_handshakes: int = 0
    """Answer the first N upgrades with HTTP 500."""


@dataclass(frozen=True)
class RecordedHandshake:
    """One WebSocket upgrade request and the status it got."""

    index: int
    headers: dict[str, str]
    status: int
    received_at: float


@dataclass(frozen=True)
class RecordedRequest:
    """One request: its raw JSON body and headers (the handshake's, for WebSocket)."""

    transport: Literal["websocket", "http"]
    body: dict[str, Any]
    headers: dict[str, str]
    handshake: int | None
    received_at: float
    """``time.perf_counter()`` when the request arrived."""


@dataclass(frozen=True)
class ResponsesStats:
    """Counts for tests; served as JSON by the stats route."""

    handshakes: int
    failed_handshakes: int
    websocket_requests: int
    http_requests: int


class ResponsesEmulator:
    """The emulated Responses endpoint (mount with :meth:`install`)."""

    def __init__(self, options: ResponsesOptions | None = None) -> None:
        self.options = options or ResponsesOptions()
        self._handshakes: list[RecordedHandshake] = []
        self._requests: list[RecordedRequest] = []
        self._failures_left = self.options.fail_handshakes
        self._turn_states = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: set[web.WebSocketResponse] = set()

    def install(
        self, app: web.Application, *, prefix: str = "/v1", stats_path: str = "/_emulator/stats"
    ) -> None:
        """Add the routes to ``app`` (before it starts)."""
        path = prefix.rstrip("/") + "/responses"
        app.router.add_get(path, self._handle_websocket)
        app.router.add_post(path, self._handle_http)
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

    # -- handlers --------------------------------------------------------------------

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
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # the client gave up while we waited
        ws.headers[TURN_STATE_HEADER] = f"ts-{next(self._turn_states)}"
        await ws.prepare(request)
        self._sockets.add(ws)
        inputs: dict[str, list[Item]] = {}
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    try:
                        more = await self._websocket_request(
                            ws, message.data, index, headers, inputs
                        )
                    except ConnectionError as exc:
                        _client_left("websocket", exc)
                        break
                    except RuntimeError as exc:  # older aiohttp: "closing transport"
                        if not ws.closed and not _closing(request):
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

    async def _websocket_request(
        self,
        ws: web.WebSocketResponse,
        data: str,
        index: int,
        headers: dict[str, str],
        inputs: dict[str, list[Item]],
    ) -> bool:
        """Answer one frame; False once the socket was closed."""
        received_at = time.perf_counter()
        try:
            create = decode_ws_request(data)
        except ProtocolError as exc:
            await ws.send_str(_error(400, "invalid_request", str(exc)))
            return True
        full = list(create.input)
        if create.previous_response_id is not None:
            prior = inputs.get(create.previous_response_id)
            if prior is None:
                msg = f"previous response {create.previous_response_id!r} not found"
                await ws.send_str(_error(400, "previous_response_not_found", msg))
                return True
            full = prior + full
        raw = msgspec.json.decode(data)
        await self._record(RecordedRequest("websocket", raw, headers, index, received_at))
        response_id = f"resp-{next(self._ids)}"
        inputs[response_id] = full
        for event in self._events(response_id, full):
            if isinstance(event, ResponseCompleted) and self.options.close_before_completed:
                await ws.close()
                return False
            await ws.send_str(encode_event(event).decode())
        if self.options.close_after_completed:
            await ws.close()
            return False
        return True

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        received_at = time.perf_counter()
        headers = {k.lower(): v for k, v in request.headers.items()}
        data = await request.read()
        try:
            body = decode_http_request(data)
        except ProtocolError as exc:
            return web.json_response({"error": {"message": str(exc)}}, status=400)
        if body.previous_response_id is not None:
            msg = "previous_response_id is not supported over HTTP with store=false"
            return web.json_response({"error": {"message": msg}}, status=400)
        await self._record(
            RecordedRequest("http", msgspec.json.decode(data), headers, None, received_at)
        )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                TURN_STATE_HEADER: f"ts-{next(self._turn_states)}",
            }
        )
        try:
            await response.prepare(request)
            for event in self._events(f"resp-{next(self._ids)}", list(body.input)):
                if isinstance(event, ResponseCompleted) and self.options.close_before_completed:
                    break
                await response.write(encode_sse(event))
            await response.write_eof()
        except ConnectionError as exc:
            _client_left("http", exc)
        except RuntimeError as exc:  # older aiohttp: "closing transport"
            if not _closing(request):
                raise
            _client_left("http", exc)
        return response

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.stats))

    # -- helpers ---------------------------------------------------------------------

    def _events(self, response_id: str, items: list[Item]) -> list[ResponsesEvent]:
        serial = response_id.removeprefix("resp-")
        outputs = scripted_reply(items, serial=serial)
        events: list[ResponsesEvent] = [ResponseCreated(response=_info(response_id, "in_progress"))]
        for index, item in enumerate(outputs):
            text = message_text(item, role="assistant")
            if text is None:
                events.append(OutputItemAdded(item=item, output_index=index))
            else:
                events.append(OutputItemAdded(item={**item, "content": []}, output_index=index))
                events.extend(
                    OutputTextDelta(
                        delta=piece, item_id=str(item.get("id", "")), output_index=index
                    )
                    for piece in _pieces(text)
                )
            events.append(OutputItemDone(item=item, output_index=index))
        events.append(ResponseCompleted(response=_info(response_id, "completed")))
        return events

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


def scripted_reply(items: list[Item], *, serial: str = "1") -> list[Item]:
    """The deterministic model: output items answering the conversation ``items``."""
    for item in reversed(items):
        if item.get("type") == "function_call_output":
            command = _command_of(items, str(item.get("call_id", "")))
            output = _tool_text(str(item.get("output", "")))
            return [
                assistant_message(
                    f"I ran `{command}`. It printed: {output}", item_id=f"msg_{serial}"
                )
            ]
        text = message_text(item, role="user")
        if text is None:
            continue
        patch = patch_in(text)
        if patch is not None:
            arguments = msgspec.json.encode({"input": patch}).decode()
            name = APPLY_PATCH_TOOL
            call = function_call(
                call_id=f"call_{serial}", name=name, arguments=arguments, item_id=f"fc_{serial}"
            )
            return [call]
        match = _COMMAND.search(text)
        argv: list[str] = []
        if match is not None:
            try:
                argv = shlex.split(match.group(1))
            except ValueError:
                argv = []
        if argv:
            arguments = msgspec.json.encode({"command": argv}).decode()
            call = function_call(
                call_id=f"call_{serial}", name="shell", arguments=arguments, item_id=f"fc_{serial}"
            )
            return [call]
        return [assistant_message(f"You said: {text[:_MAX_ECHO]}", item_id=f"msg_{serial}")]
    return [assistant_message("You said nothing.", item_id=f"msg_{serial}")]


def _command_of(items: list[Item], call_id: str) -> str:
    for item in items:
        call = as_function_call(item)
        if call is None or call.call_id != call_id:
            continue
        try:
            args = msgspec.json.decode(call.arguments)
        except msgspec.DecodeError:
            return call.arguments
        if isinstance(args, dict) and isinstance(args.get("input"), str):
            return APPLY_PATCH_TOOL
        argv = args.get("command") if isinstance(args, dict) else None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return shlex.join(argv)
        return call.arguments
    return "the command"


def _tool_text(output: str) -> str:
    """The interesting part of a tool output (after ``Output:`` when present)."""
    _, marker, rest = output.partition("Output:\n")
    text = (rest if marker else output).strip()
    return text[:_MAX_ECHO] if text else "(no output)"


def _pieces(text: str) -> list[str]:
    """Split ``text`` into a few deltas (at spaces) so clients see streaming."""
    words = text.split(" ")
    step = max(1, len(words) // 3)
    chunks = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
    return [c + " " for c in chunks[:-1]] + chunks[-1:]


def _info(response_id: str, status: str) -> ResponseInfo:
    usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    return ResponseInfo(
        id=response_id, status=status, usage=usage if status == "completed" else None
    )


def _closing(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _client_left(transport: str, exc: Exception) -> None:
    """A client that disconnects mid-stream is normal: end the stream quietly."""
    logger.debug(
        "emulator responses client went away mid-stream",
        extra={"transport": transport, "error": str(exc)},
    )


def _error(status: int, code: str, message: str) -> str:
    return encode_event(
        ErrorEvent(status=status, error={"code": code, "message": message})
    ).decode()

"""The turn-scoped model client session: connection acquisition, retries, fallback.

One :class:`ModelClientSession` per turn (``ModelClient.new_session()``). It holds
the turn's WebSocket, the write-once sticky turn-state token, and the incremental
request bookkeeping (last input, last response id). A new turn gets a new session,
so the token and the bookkeeping never leak across turns.

:meth:`ModelClientSession.stream` runs one request with the retry policy:

* a retryable failure is retried after ``base * 2**(n-1) * jitter[0.9, 1.1)``;
* after ``stream_max_retries`` retries on WebSockets the client switches to HTTP +
  SSE for good (retries start again from 0 there); on HTTP the error is raised;
* HTTP 426 on the upgrade switches at once, without using a retry.

Each restart yields a :class:`StreamRetry` marker first: consumers discard the
partial output they got from the failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple, Protocol

import aiohttp
import msgspec

from realtalk._errors import AgentError, RealtalkError, TransportClosedError
from realtalk._ws_connect import WebSocket
from realtalk.agent._model_options import ModelClientOptions
from realtalk.agent._transport import (
    TurnStateCell,
    http_stream,
    is_retryable,
    is_upgrade_required,
    ws_stream,
)
from realtalk.protocol.responses import (
    ERR_STREAM_CLOSED,
    FALLBACK_WARNING,
    Item,
    OutputItemDone,
    RequestBody,
    ResponseCompleted,
    ResponsesEvent,
    build_request,
    encode_http_request,
    encode_ws_request,
    plan_request,
)

__all__ = [
    "ModelClientSession",
    "Prompt",
    "ResponseResult",
    "StreamItem",
    "SessionHost",
    "StreamRetry",
    "Warmed",
    "backoff_delay",
]

logger = logging.getLogger(__name__)


class StreamRetry(msgspec.Struct, frozen=True):
    """Not a wire event: the request starts over; drop the previous attempt's output."""

    message: str
    """``Reconnecting... n/max`` or the fallback warning."""
    fallback: bool = False
    """True when this restart switched the client to HTTP."""


StreamItem = ResponsesEvent | StreamRetry


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """What one sampling request asks for (the full input of the turn so far)."""

    model: str
    instructions: str
    input: Sequence[Item]
    tools: Sequence[dict[str, Any]] = ()
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None


class ResponseResult(NamedTuple):
    """A completed response: its id, its output items in order, and usage."""

    response_id: str
    items: list[Item]
    usage: dict[str, Any] | None


def backoff_delay(
    attempt: int, *, base_s: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): base x 2^(n-1) x [0.9, 1.1)."""
    return base_s * 2.0 ** (attempt - 1) * (0.9 + 0.2 * rng())


class Warmed(NamedTuple):
    """A preconnected socket and the turn-state token its handshake captured."""

    connection: WebSocket
    turn_state: str | None


class SessionHost(Protocol):
    """What a turn needs from its session-scoped client (:class:`ModelClient` is one).

    The underscored members are the client's internals that only its sessions use:
    the preconnect slot, the HTTP fallback latch, sockets and the HTTP session.
    """

    @property
    def options(self) -> ModelClientOptions: ...

    @property
    def uses_http(self) -> bool: ...

    @property
    def session_id(self) -> str: ...

    @property
    def http_url(self) -> str: ...

    def _forget_session(self, session: ModelClientSession) -> None: ...

    def _take_preconnected(self) -> Warmed | None: ...

    def _pending_preconnect(self) -> asyncio.Task[None] | None: ...

    async def _wait_for_pending(self, task: asyncio.Task[None]) -> None: ...

    def _clear_preconnect(self) -> None: ...

    def _switch_to_http(self, reason: BaseException) -> bool: ...

    def _close_later(self, ws: WebSocket) -> None: ...

    async def _connect_ws(self, cell: TurnStateCell | None, metadata: str | None) -> WebSocket: ...

    def _conversation_headers(
        self, cell: TurnStateCell | None, metadata: str | None
    ) -> dict[str, str]: ...

    async def _turn_metadata(self) -> str | None: ...

    def _http_session(self) -> aiohttp.ClientSession: ...


class _Switched(RealtalkError):
    """The client fell back to HTTP while this attempt waited: retry over HTTP."""


class ModelClientSession:
    """One turn's view of the model client. Not reusable across turns."""

    def __init__(self, client: SessionHost) -> None:
        self._client = client
        self._turn_state = TurnStateCell()
        self._ws: WebSocket | None = None
        self._adoption_tried = False
        self._last_input: list[Item] | None = None
        self._last_response_id: str | None = None
        self._metadata_done = False
        self._metadata: str | None = None
        self._busy = False
        self._closed = False

    @property
    def turn_state(self) -> str | None:
        """The sticky routing token captured in this turn, if any."""
        return self._turn_state.value

    async def __aenter__(self) -> ModelClientSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the turn's socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._client._forget_session(self)
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await ws.aclose()  # on cancellation it drops the connection itself
            except Exception:  # closing is best effort
                logger.debug("model session socket close failed", exc_info=True)

    async def complete(self, prompt: Prompt) -> ResponseResult:
        """Run :meth:`stream` to the end and collect the output items."""
        items: list[Item] = []
        async with contextlib.aclosing(self.stream(prompt)) as events:
            async for event in events:
                if isinstance(event, StreamRetry):
                    items.clear()
                elif isinstance(event, OutputItemDone):
                    items.append(event.item)
                elif isinstance(event, ResponseCompleted):
                    return ResponseResult(event.response.id, items, event.response.usage)
        raise TransportClosedError(ERR_STREAM_CLOSED)

    async def stream(self, prompt: Prompt) -> AsyncGenerator[StreamItem, None]:
        """Run one request (with retries and fallback) and yield its events.

        The last event is ``ResponseCompleted``. :class:`StreamRetry` markers come
        before each restart.

        Raises:
            RealtalkError: The request failed for good (not retryable, or retries
                exhausted on HTTP); the message says why.
            AgentError: The session is closed or already running a request.
        """
        if self._closed:
            raise AgentError("this model client session is closed; use a new one per turn")
        if self._busy:
            raise AgentError("a model request is already running in this turn")
        self._busy = True
        client = self._client
        max_retries = client.options.stream_max_retries
        retries = 0
        try:
            while True:
                if self._closed:
                    raise AgentError("this model client session was closed during a request")
                use_ws = not client.uses_http
                try:
                    attempt = self._ws_attempt(prompt) if use_ws else self._http_attempt(prompt)
                    async with contextlib.aclosing(attempt) as events:
                        async for event in events:
                            yield event
                    return
                except _Switched:
                    continue
                except RealtalkError as exc:
                    failure = exc
                if use_ws and (is_upgrade_required(failure) or client.uses_http):
                    # 426: the server has no WebSocket support; switch without a retry.
                    switched = client._switch_to_http(failure)
                    self._drop_ws()
                    if switched:
                        yield StreamRetry(f"{FALLBACK_WARNING} {failure}", fallback=True)
                    continue
                if not is_retryable(failure):
                    raise failure
                if use_ws and retries >= max_retries and client._switch_to_http(failure):
                    self._drop_ws()
                    retries = 0
                    yield StreamRetry(f"{FALLBACK_WARNING} {failure}", fallback=True)
                    continue
                if retries >= max_retries:
                    raise failure
                retries += 1
                logger.info(
                    "model request failed, retrying: %s",
                    failure,
                    extra={"attempt": retries, "max_retries": max_retries},
                )
                yield StreamRetry(f"Reconnecting... {retries}/{max_retries}")
                await asyncio.sleep(
                    backoff_delay(retries, base_s=client.options.retry_base_delay_s)
                )
        finally:
            self._busy = False

    # -- attempts ------------------------------------------------------------------

    async def _ws_attempt(self, prompt: Prompt) -> AsyncGenerator[ResponsesEvent, None]:
        ws = await self._websocket()
        plan = plan_request(
            prompt.input, last_input=self._last_input, last_response_id=self._last_response_id
        )
        body = self._body(prompt, plan.input, plan.previous_response_id)
        self._last_input = list(prompt.input)
        self._last_response_id = None
        completed = False
        try:
            async for event in ws_stream(
                ws, encode_ws_request(body), idle_timeout_s=self._client.options.idle_timeout_s
            ):
                if isinstance(event, ResponseCompleted):
                    self._last_response_id = event.response.id or None
                    completed = True
                yield event
        finally:
            if not completed:
                # A request that did not finish leaves the socket in an unknown state.
                self._drop_ws()

    async def _http_attempt(self, prompt: Prompt) -> AsyncGenerator[ResponsesEvent, None]:
        client = self._client
        body = self._body(prompt, list(prompt.input), None)
        headers = client._conversation_headers(self._turn_state, await self._turn_metadata())
        headers["Accept"] = "text/event-stream"
        headers["Content-Type"] = "application/json"
        async for event in http_stream(
            client._http_session(),
            client.http_url,
            encode_http_request(body),
            headers,
            self._turn_state,
            connect_timeout_s=client.options.connect_timeout_s,
            idle_timeout_s=client.options.idle_timeout_s,
        ):
            yield event

    def _body(self, prompt: Prompt, items: list[Item], previous_id: str | None) -> RequestBody:
        return build_request(
            model=prompt.model,
            instructions=prompt.instructions,
            input=items,
            tools=prompt.tools,
            prompt_cache_key=self._client.session_id,
            previous_response_id=previous_id,
            reasoning=prompt.reasoning,
            text=prompt.text,
        )

    # -- connection ------------------------------------------------------------------

    async def _websocket(self) -> WebSocket:
        """The turn's socket: adopt the preconnected one, else connect (one path)."""
        client = self._client
        if self._ws is None and not self._adoption_tried:
            self._adoption_tried = True
            warmed = client._take_preconnected()
            if warmed is None:
                pending = client._pending_preconnect()
                if pending is not None:
                    # The in-flight preconnect stands in for this turn's own connect.
                    await client._wait_for_pending(pending)
                    warmed = client._take_preconnected()
            if warmed is not None:
                self._ws = warmed.connection
                self._turn_state.set_once(warmed.turn_state)
                logger.debug("turn adopted the preconnected websocket")
        if client.uses_http:
            raise _Switched("switched to HTTP")
        if self._ws is not None and self._ws.reusable:
            return self._ws
        client._clear_preconnect()
        self._drop_ws()
        metadata = await self._turn_metadata()
        ws = await client._connect_ws(self._turn_state, metadata)
        if client.uses_http or self._closed:
            client._close_later(ws)
            raise _Switched("switched to HTTP")
        self._ws = ws
        return ws

    def _drop_ws(self) -> None:
        ws, self._ws = self._ws, None
        self._last_input = None
        self._last_response_id = None
        if ws is not None:
            self._client._close_later(ws)

    async def _turn_metadata(self) -> str | None:
        if not self._metadata_done:
            self._metadata = await self._client._turn_metadata()
            self._metadata_done = True
        return self._metadata

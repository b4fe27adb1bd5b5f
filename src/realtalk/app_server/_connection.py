"""One client connection: framing-independent JSON-RPC handling.

A transport (stdio or WebSocket) feeds every inbound frame to
:meth:`Connection.receive` and writes what :meth:`Connection.outgoing` yields.

Request handling order (reference 3.5): parse -> method lookup (``-32601``) ->
``initialize`` handling -> not-initialized check -> experimental gate -> params
(``-32602``) -> dispatch. Thread-scoped requests are queued on their thread's
worker (see :mod:`._threads`); others run inline.

Outbound queue: at most ``outbound_queue_size`` encoded messages wait for the
transport. When it is full a sender waits up to ``slow_client_timeout_s``; a
client that still has not drained it is disconnected (logged; the transport
drops the connection, since a client that does not read would never see a close
frame), because dropping responses or notifications silently would break the
protocol. Messages queued for a connection that already closed are discarded.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import msgspec

from realtalk._errors import RealtalkError
from realtalk.app_server._methods import (
    CLIENT_NOTIFICATIONS,
    METHODS,
    NOTIFICATIONS,
    NotificationMethod,
    RequestMethod,
    request_method,
)
from realtalk.app_server._outbox import Outbox
from realtalk.protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SERVER_OVERLOADED,
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    ParamsError,
    RequestId,
    RpcErrorObject,
    decode_params,
    encode_error,
    encode_notification,
    encode_request,
    encode_response,
    oversized_error,
    parse_message,
)

__all__ = ["Connection", "ConnectionLimits", "RequestError", "ServerRequestError"]

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]
Router = Callable[[str, str, Job], Awaitable["RequestError | None"]]
"""Runs or queues a thread-scoped request: (thread id, method, job) -> refusal or None."""


@dataclass(frozen=True, kw_only=True)
class ConnectionLimits:
    outbound_queue_size: int = 4096
    """Encoded messages waiting for the transport."""
    slow_client_timeout_s: float = 5.0
    """Longest wait for room in a full outbound queue before disconnecting."""
    max_threads: int = 1024
    """Threads one connection may hold (``realtalk app-server --max-threads``)."""


class _HasThreadId(Protocol):
    @property
    def thread_id(self) -> str: ...


class RequestError(RealtalkError):
    """A request fails with a JSON-RPC error (raised by handlers)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.error = RpcErrorObject(code, message, data)


class ServerRequestError(RealtalkError):
    """A server-to-client request failed (error answer, no answer in time, closed)."""


def invalid_request(message: str) -> RequestError:
    return RequestError(INVALID_REQUEST, message)


class Connection:
    """Protocol state of one client; the handlers live in :class:`Dispatcher`."""

    def __init__(self, name: str, limits: ConnectionLimits | None = None) -> None:
        self.name = name
        self.limits = limits or ConnectionLimits()
        self.initialized = False
        self.experimental_api = False
        self.opt_out: frozenset[str] = frozenset()
        self._out = Outbox(self.limits.outbound_queue_size)
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        self.aborted = asyncio.Event()
        """Set when the connection must be dropped (slow client); the transport closes it."""
        self.abort_reason = ""
        # Set by the dispatcher: request handlers and the close hook.
        self.handlers: dict[RequestMethod, Callable[[RequestId, Any], Awaitable[None]]] = {}
        self.route: Router | None = None
        self.on_close: Callable[[], Awaitable[None]] | None = None
        self._server_ids = itertools.count(1)
        self._server_requests: dict[str, asyncio.Future[msgspec.Raw]] = {}

    @property
    def closed(self) -> bool:
        return self._closed

    # -- outbound ----------------------------------------------------------------------

    async def _enqueue(self, data: bytes) -> None:
        if self._out.put_nowait(data):
            return
        if self._closed or self.aborted.is_set():
            logger.debug("dropping message for a closed connection", extra={"conn": self.name})
            return
        if not await self._out.put(data, self.limits.slow_client_timeout_s) and not self._closed:
            self.abort(
                f"client did not read {self.limits.outbound_queue_size} pending messages "
                f"within {self.limits.slow_client_timeout_s:g} s"
            )

    def abort(self, reason: str) -> None:
        """Drop the connection (the transport closes it)."""
        if not self.aborted.is_set():
            logger.warning("disconnecting app-server client: %s", reason, extra={"conn": self.name})
            self.abort_reason = reason
            self.aborted.set()

    async def respond(self, request_id: RequestId, result: msgspec.Struct) -> None:
        await self._enqueue(encode_response(request_id, result))

    async def fail(self, request_id: RequestId | None, error: RpcErrorObject) -> None:
        await self._enqueue(encode_error(request_id, error))

    def _wants(self, method: NotificationMethod) -> bool:
        """The client gets ``method`` (not opted out; experimental ones only if asked)."""
        if method in self.opt_out:
            return False
        return self.experimental_api or not NOTIFICATIONS[method].experimental

    async def notify(self, method: NotificationMethod, params: msgspec.Struct) -> None:
        if self._wants(method):
            await self._enqueue(encode_notification(method, params))

    def notify_now(self, method: NotificationMethod, params: msgspec.Struct) -> bool:
        """``notify`` without waiting: False when the outbox is full (``await notify``
        then, which waits for room and disconnects a client that reads nothing)."""
        if not self._wants(method):
            return True
        if self._out.put_nowait(encode_notification(method, params)):
            return True
        return self._closed or self.aborted.is_set()  # dropped, as notify drops it

    async def call(
        self, method: str, params: msgspec.Struct, *, timeout: float
    ) -> tuple[RequestId, msgspec.Raw]:
        """Send a server-to-client request and wait (bounded) for the client's result.

        Returns the request id and the raw result.

        Raises:
            ServerRequestError: The client answered with an error, did not answer
                within ``timeout`` seconds, or the connection closed.
        """
        rid = f"srv_{next(self._server_ids)}"
        if self._closed or self.aborted.is_set():
            raise ServerRequestError(f"{method}: the client connection is closed")
        future: asyncio.Future[msgspec.Raw] = asyncio.get_running_loop().create_future()
        self._server_requests[rid] = future
        try:
            await self._enqueue(encode_request(rid, method, params))
            async with asyncio.timeout(timeout):
                return rid, await future
        except TimeoutError as exc:
            raise ServerRequestError(
                f"{method}: the client did not answer within {timeout:g} s"
            ) from exc
        finally:
            self._server_requests.pop(rid, None)

    async def outgoing(self) -> AsyncIterator[bytes]:
        """Encoded messages for the transport, until the connection closes."""
        while batch := await self._out.get_batch():
            for data in batch:
                yield data

    async def next_batch(self) -> list[bytes]:
        """Every queued message (waits for one); ``[]`` once the connection closed."""
        return await self._out.get_batch()

    # -- inbound -----------------------------------------------------------------------

    async def receive_oversized(self, size: int | None) -> None:
        await self._answer_failure(oversized_error(size).error, None)

    async def receive_unsupported(self, what: str) -> None:
        await self.fail(None, RpcErrorObject(INVALID_REQUEST, f"Invalid request: {what}"))

    async def _answer_failure(self, error: RpcErrorObject, request_id: RequestId | None) -> None:
        logger.info("bad app-server message: %s", error.message, extra={"conn": self.name})
        await self.fail(request_id, error)

    async def receive(self, data: bytes | str) -> None:
        """Handle one inbound frame (never raises for bad input)."""
        message = parse_message(data)
        if isinstance(message, IncomingRequest):
            await self._request(message)
        elif isinstance(message, IncomingNotification):
            if message.method not in CLIENT_NOTIFICATIONS:
                logger.warning(
                    "ignoring unknown client notification %r (notifications get no answer)",
                    message.method,
                    extra={"conn": self.name},
                )
        elif isinstance(message, IncomingResponse):
            self._resolve(message)
        else:
            await self._answer_failure(message.error, message.id)

    def _resolve(self, message: IncomingResponse) -> None:
        future = self._server_requests.get(str(message.id))
        if future is None or future.done():
            logger.warning(
                "ignoring a response (id %r) that answers no pending server request",
                message.id,
                extra={"conn": self.name},
            )
            return
        if message.error is not None:
            try:
                error = msgspec.json.decode(message.error, type=RpcErrorObject)
                detail = f"({error.code}) {error.message}"
            except msgspec.ValidationError:
                detail = "a malformed error"
            future.set_exception(ServerRequestError(f"the client answered with {detail}"))
        else:
            future.set_result(message.result or msgspec.Raw(b"null"))

    async def _request(self, req: IncomingRequest) -> None:
        method = request_method(req.method)
        handler = None if method is None else self.handlers.get(method)
        if method is None or handler is None:
            await self.fail(
                req.id, RpcErrorObject(METHOD_NOT_FOUND, f"Method not found: {req.method}")
            )
            return
        spec = METHODS[method]
        if method is not RequestMethod.INITIALIZE and not self.initialized:
            await self.fail(req.id, RpcErrorObject(INVALID_REQUEST, "Not initialized"))
            return
        if spec.experimental and not self.experimental_api:
            message = f"{req.method} requires experimentalApi capability"
            await self.fail(req.id, RpcErrorObject(INVALID_REQUEST, message))
            return
        try:
            params = decode_params(req.params, spec.params)
        except ParamsError as exc:
            await self.fail(req.id, exc.to_error())
            return
        if spec.thread_scoped and self.route is not None:
            refused = await self.route(
                cast(_HasThreadId, params).thread_id,
                req.method,
                lambda: self._run(handler, req, params),
            )
            if refused is not None:
                await self.fail(req.id, refused.error)
            return
        await self._run(handler, req, params)

    async def _run(
        self,
        handler: Callable[[RequestId, Any], Awaitable[None]],
        req: IncomingRequest,
        params: Any,
    ) -> None:
        try:
            await handler(req.id, params)
        except RequestError as exc:
            await self.fail(req.id, exc.error)
        except RealtalkError as exc:
            await self.fail(req.id, RpcErrorObject(INVALID_REQUEST, str(exc)))
        except Exception as exc:
            logger.exception("app-server request %s failed", req.method, extra={"conn": self.name})
            await self.fail(
                req.id,
                RpcErrorObject(INTERNAL_ERROR, f"Internal error: {type(exc).__name__}: {exc}"),
            )

    # -- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the threads (ending their conversations), then end :meth:`outgoing`.

        The close runs once, in its own task: every caller (the transport, the
        server shutting down) waits for that same close, and cancelling one caller
        does not interrupt it.
        """
        if self._close_task is None:
            self._close_task = asyncio.create_task(
                self._close(), name=f"realtalk-app-close-{self.name}"
            )
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        try:
            if self.on_close is not None:
                await self.on_close()
        finally:
            self._closed = True
            for future in self._server_requests.values():
                if not future.done():
                    future.set_exception(ServerRequestError("the client connection closed"))
            # A dropped (too slow) client will never read what is queued.
            self._out.close(discard=self.aborted.is_set())


def overloaded() -> RequestError:
    return RequestError(SERVER_OVERLOADED, "Server overloaded; retry later.")

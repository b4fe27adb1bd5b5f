"""A typed asyncio client of the app-server, over stdio (a child process) or WebSocket.

::

    async with await Client.connect("ws://127.0.0.1:8765") as client:
        await client.initialize("my_client", experimental_api=True)
        thread = (await client.thread_start()).thread
        await client.realtime_start(thread.id, output_modality=OutputModality.TEXT)
        started = await client.wait_for("thread/realtime/started")

Requests raise :class:`RpcError` for JSON-RPC errors and time out after
``timeout`` seconds. Notifications are decoded into their typed structs; the
client keeps the last ``max_kept`` of them for :meth:`Client.wait_for` and hands
each to ``on_notification`` if given. Server messages that answer no pending
request (errors with a null id, say) are kept in :attr:`Client.unmatched`.
Server-to-client requests (approval questions) are kept in
:attr:`Client.server_requests` and handed to ``on_server_request`` if given;
answer them with :meth:`Client.respond`. (What it received, and the waits on it, are
its :class:`~realtalk.app_server._client_inbox.Inbox`.)
``tap`` (if given) sees every frame as ``tap("in"|"out", bytes)``, e.g. for a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import msgspec

from realtalk._errors import ProtocolError, RealtalkError, TransportClosedError, TransportError
from realtalk.app_server._client_api import TypedCalls
from realtalk.app_server._client_inbox import Inbox, Notification, ServerRequest
from realtalk.app_server._links import Link, ProcessLink, WebSocketLink
from realtalk.app_server._methods import NOTIFICATIONS, notification_method
from realtalk.protocol import (
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    RpcErrorObject,
    encode_notification,
    encode_request,
    encode_response,
    parse_message,
)

__all__ = [
    "Client",
    "Notification",
    "RequestTimeoutError",
    "RpcError",
    "ServerRequest",
    "default_server_command",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

Tap = Callable[[str, bytes], None]
"""Sees every frame: ``(direction, data)`` with direction ``"in"`` or ``"out"``."""

_CLOSE_TIMEOUT_S: Final = 5.0


def default_server_command() -> list[str]:
    """``realtalk app-server`` run with this interpreter."""
    return [sys.executable, "-m", "realtalk", "app-server"]


class RpcError(RealtalkError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, method: str, error: RpcErrorObject) -> None:
        super().__init__(f"{method} failed ({error.code}): {error.message}")
        self.code = error.code
        self.rpc_message = error.message
        self.data = error.data


class RequestTimeoutError(TransportError, TimeoutError):
    """A request got no answer in time (still a TimeoutError for older callers)."""


class Client(Inbox, TypedCalls):
    """JSON-RPC client of ``realtalk app-server`` (use :meth:`spawn` or :meth:`connect`)."""

    def __init__(
        self,
        *,
        on_notification: Callable[[Notification], None] | None = None,
        max_kept: int = 10_000,
        tap: Tap | None = None,
        on_server_request: Callable[[ServerRequest], None] | None = None,
    ) -> None:
        super().__init__(
            on_notification=on_notification,
            max_kept=max_kept,
            on_server_request=on_server_request,
        )
        self._tap = tap
        self._link: Link | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[msgspec.Raw]]] = {}
        self.process: asyncio.subprocess.Process | None = None

    # -- connecting --------------------------------------------------------------------

    @classmethod
    async def spawn(
        cls,
        command: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_notification: Callable[[Notification], None] | None = None,
        max_kept: int = 10_000,
        tap: Tap | None = None,
    ) -> Client:
        """Start ``command`` (default :func:`default_server_command`) and talk over its stdio."""
        link = await ProcessLink.spawn(list(command or default_server_command()), env=env, cwd=cwd)
        client = cls(on_notification=on_notification, max_kept=max_kept, tap=tap)
        client.process = link.proc
        client._attach(link)
        return client

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        origin: str | None = None,
        on_notification: Callable[[Notification], None] | None = None,
        max_kept: int = 10_000,
        open_timeout: float = 10.0,
        tap: Tap | None = None,
    ) -> Client:
        """Connect to ``ws://host:port`` (``token``: sent as ``Authorization: Bearer``)."""
        link = await WebSocketLink.open(url, token=token, origin=origin, open_timeout=open_timeout)
        client = cls(on_notification=on_notification, max_kept=max_kept, tap=tap)
        client._attach(link)
        return client

    # -- reading -----------------------------------------------------------------------

    def _attach(self, link: Link) -> None:
        self._link = link
        self._reader = asyncio.create_task(self._read(link), name="realtalk-app-client-reader")

    async def _read(self, link: Link) -> None:
        try:
            await link.receive(self._dispatch)
        except Exception:
            logger.exception("app-server client reader failed; the connection is closed")
        finally:
            await self._on_closed()

    def _tapped(self, direction: str, data: bytes | str) -> None:
        tap = self._tap
        if tap is None:
            return
        try:
            tap(direction, data.encode() if isinstance(data, str) else data)
        except Exception:  # a broken log must not break the connection
            logger.warning("app-server client tap failed; disabling it", exc_info=True)
            self._tap = None

    async def _dispatch(self, data: bytes | str) -> None:
        self._tapped("in", data)
        try:
            self._handle(data)
        except Exception:  # one bad message must not end the connection
            logger.exception("app-server client could not handle a message: %r", data[:200])
        self._signal()

    def _handle(self, data: bytes | str) -> None:
        message = parse_message(data)
        if isinstance(message, IncomingResponse):
            pending = self._pending.pop(message.id, None) if isinstance(message.id, int) else None
            if message.error is not None:
                error = msgspec.json.decode(message.error, type=RpcErrorObject)
                if pending is None:
                    self.unmatched.append(error)
                elif not pending[1].done():
                    pending[1].set_exception(RpcError(pending[0], error))
            elif pending is not None and not pending[1].done():
                pending[1].set_result(message.result or msgspec.Raw(b"null"))
        elif isinstance(message, IncomingNotification):
            self._notify(self._decode_notification(message))
        elif isinstance(message, IncomingRequest):
            params = msgspec.json.decode(message.params) if message.params is not None else None
            self._server_request(ServerRequest(message.id, message.method, params))
        else:
            # An error with a null id parses as a failure here: keep its error.
            orphan = _null_id_error(data)
            if orphan is not None:
                self.unmatched.append(orphan)
            else:
                logger.warning("unexpected app-server message: %r", data[:200])

    def _decode_notification(self, message: IncomingNotification) -> Notification:
        method = notification_method(message.method)
        spec = None if method is None else NOTIFICATIONS.get(method)
        raw = message.params if message.params is not None else msgspec.Raw(b"null")
        if spec is not None:
            try:
                return Notification(message.method, msgspec.json.decode(raw, type=spec.params))
            except msgspec.ValidationError as exc:
                logger.warning("notification %s does not match its schema: %s", message.method, exc)
        return Notification(message.method, msgspec.json.decode(raw))

    async def _on_closed(self) -> None:
        self.closed.set()
        for method, future in self._pending.values():
            if not future.done():
                future.set_exception(
                    TransportClosedError(
                        f"the app-server connection closed before {method} answered"
                    )
                )
        self._pending.clear()
        self._signal()

    # -- requests ----------------------------------------------------------------------

    async def send_raw(self, data: bytes | str) -> None:
        """Send one frame as is (for tests of malformed input)."""
        if self._link is None:
            raise TransportClosedError("the client is not connected")
        payload = data.encode() if isinstance(data, str) else data
        self._tapped("out", payload)
        await self._link.send(payload)

    async def respond(self, request_id: str | int, result: Any) -> None:
        """Answer a server-to-client request."""
        await self.send_raw(encode_response(request_id, result))

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send_raw(encode_notification(method, params))

    async def request_raw(
        self, method: str, params: Any = None, *, timeout: float = 30.0
    ) -> msgspec.Raw:
        """Send a request; the raw JSON result."""
        if self.closed.is_set():
            raise TransportClosedError("the app-server connection is closed")
        rid = next(self._ids)
        future: asyncio.Future[msgspec.Raw] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (method, future)
        try:
            # The send is timed too: a server that does not read blocks it.
            async with asyncio.timeout(timeout):
                await self.send_raw(encode_request(rid, method, params))
                return await future
        except TimeoutError as exc:
            raise RequestTimeoutError(
                f"the app-server did not answer {method} within {timeout:g}s"
            ) from exc
        finally:
            self._pending.pop(rid, None)

    async def request(
        self, method: str, params: Any, result: type[T], *, timeout: float = 30.0
    ) -> T:
        """Send a request and decode its result into ``result``.

        Raises:
            ProtocolError: the result does not have the documented shape.
        """
        raw = await self.request_raw(method, params, timeout=timeout)
        try:
            return msgspec.json.decode(raw, type=result)
        except msgspec.ValidationError as exc:
            raise ProtocolError(f"the app-server's answer to {method} is malformed: {exc}") from exc

    # -- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection (a spawned server exits once its stdin closes). Idempotent."""
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await link.close()
        if self._reader is not None:
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await asyncio.gather(self._reader, return_exceptions=True)
            except TimeoutError:
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _NullIdError(msgspec.Struct):
    id: None
    error: RpcErrorObject


def _null_id_error(data: bytes | str) -> RpcErrorObject | None:
    try:
        return msgspec.json.decode(data, type=_NullIdError).error
    except (msgspec.DecodeError, RecursionError):
        return None

"""What the app-server client received: notifications, server requests, unanswered errors.

:class:`Inbox` is mixed into :class:`~realtalk.app_server.Client`: the client's reader
hands it every message that is not an answer, and tests and callers wait on it
(:meth:`Inbox.wait_for` and friends). It keeps the last ``max_kept`` notifications
(older ones are dropped, counted by the cursor), every server request, and the errors
that answered no request. Waiters share one future that the reader resolves on each
message, so waiting costs nothing while nobody waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from realtalk._errors import TransportClosedError
from realtalk.protocol import RpcErrorObject

__all__ = ["Inbox", "Notification", "ServerRequest"]

logger = logging.getLogger("realtalk.app_server._client")  # the client's, as before


class ServerRequest(NamedTuple):
    """A request the server sent us (``params`` decoded as plain JSON)."""

    id: str | int
    method: str
    params: Any


class Notification(NamedTuple):
    """One server notification; ``params`` is the typed struct (or the raw value)."""

    method: str
    params: Any


class Inbox:
    """Received notifications and server requests, and waits on them (see the module docs)."""

    def __init__(
        self,
        *,
        on_notification: Callable[[Notification], None] | None,
        max_kept: int,
        on_server_request: Callable[[ServerRequest], None] | None,
    ) -> None:
        self._on_notification = on_notification
        self._on_server_request = on_server_request
        self._kept: deque[Notification] = deque(maxlen=max(0, max_kept))
        self._dropped = 0
        self._change: asyncio.Future[None] | None = None
        self.server_requests: list[ServerRequest] = []
        self.unmatched: list[RpcErrorObject] = []
        """Errors that answered no pending request (a null id, say)."""
        self.closed = asyncio.Event()

    def _notify(self, notification: Notification) -> None:
        if self._kept.maxlen is not None and len(self._kept) == self._kept.maxlen:
            self._dropped += 1
        self._kept.append(notification)
        if self._on_notification is not None:
            try:
                self._on_notification(notification)
            except Exception:  # the caller's bug must not end the connection
                logger.exception("on_notification failed for %s", notification.method)

    def _server_request(self, request: ServerRequest) -> None:
        self.server_requests.append(request)
        if self._on_server_request is not None:
            try:
                self._on_server_request(request)
            except Exception:  # the caller's bug must not end the connection
                logger.exception("on_server_request failed for %s", request.method)

    def _signal(self) -> None:
        change, self._change = self._change, None
        if change is not None and not change.done():
            change.set_result(None)

    async def _next_change(self) -> None:
        """Wait until the next message (shared by all waiters; no cost when nobody waits)."""
        if self._change is None:
            self._change = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._change)

    @property
    def notification_count(self) -> int:
        """Notifications received so far (a cursor for :meth:`wait_for`)."""
        return self._dropped + len(self._kept)

    def notifications(self, method: str | None = None, *, start: int = 0) -> list[Notification]:
        """Kept notifications from cursor ``start`` on (optionally one method)."""
        skip = max(0, start - self._dropped)
        return [n for n in list(self._kept)[skip:] if method is None or n.method == method]

    async def wait_for(
        self,
        method: str,
        where: Callable[[Any], bool] | None = None,
        *,
        start: int = 0,
        timeout: float = 10.0,
    ) -> Notification:
        """The first notification ``method`` (whose params satisfy ``where``) from ``start``."""
        async with asyncio.timeout(timeout):
            while True:
                for n in self.notifications(method, start=start):
                    if where is None or where(n.params):
                        return n
                if self.closed.is_set():
                    raise TransportClosedError(f"connection closed while waiting for {method}")
                await self._next_change()

    async def wait_for_count(
        self,
        method: str,
        count: int,
        where: Callable[[Any], bool] | None = None,
        *,
        start: int = 0,
        timeout: float = 10.0,
    ) -> list[Notification]:
        """The first ``count`` notifications ``method`` (matching ``where``) from ``start``."""

        def matching() -> list[Notification]:
            found = self.notifications(method, start=start)
            return [n for n in found if where is None or where(n.params)]

        async with asyncio.timeout(timeout):
            while len(found := matching()) < count:
                if self.closed.is_set():
                    raise TransportClosedError(f"connection closed while waiting for {method}")
                await self._next_change()
            return found[:count]

    async def wait_for_unmatched(self, count: int = 1, *, timeout: float = 10.0) -> None:
        """Wait until ``count`` messages answered no pending request."""
        async with asyncio.timeout(timeout):
            while len(self.unmatched) < count and not self.closed.is_set():
                await self._next_change()

    async def wait_for_server_request(
        self, method: str, *, start: int = 0, timeout: float = 10.0
    ) -> ServerRequest:
        """The first server request ``method`` from index ``start`` of :attr:`server_requests`."""
        async with asyncio.timeout(timeout):
            while True:
                for request in self.server_requests[start:]:
                    if request.method == method:
                        return request
                if self.closed.is_set():
                    raise TransportClosedError(f"connection closed while waiting for {method}")
                await self._next_change()

"""What one accepted realtime WebSocket saw, with helpers for tests to wait on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from realtalk._errors import TransportClosedError
from realtalk.emulator._wire import SessionMode, SessionVersion

__all__ = ["RealtimeSessionRecord"]

JsonDict = dict[str, Any]
Predicate = Callable[[JsonDict], bool]


class _Control(Protocol):
    async def inject(self, event: JsonDict) -> None: ...

    async def close(self, code: int) -> None: ...

    @property
    def mode(self) -> SessionMode: ...


class RealtimeSessionRecord:
    """One realtime socket: request data, every message both ways, and controls.

    ``received`` holds every client JSON message and ``sent`` every server event
    (after ``event_id`` was added), both in order, unless the emulator runs with
    ``record=False`` (then only the counters move).
    """

    def __init__(
        self,
        *,
        path_qs: str,
        headers: dict[str, str],
        version: SessionVersion,
        call_id: str | None,
        record: bool,
        beta: bool = False,
    ) -> None:
        self.path_qs = path_qs
        self.headers = headers
        self.version: SessionVersion = version
        self.call_id = call_id
        self.beta = beta
        """The socket speaks the beta realtime API (``OpenAI-Beta: realtime=v1``)."""
        self.received: list[JsonDict] = []
        self.sent: list[JsonDict] = []
        self.received_count = 0
        self.sent_count = 0
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._record = record
        self._changed = asyncio.Event()
        self._control: _Control | None = None

    # ---------------------------------------------------------------- glue side

    def bind(self, control: _Control) -> None:
        self._control = control

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def note_received(self, message: JsonDict) -> None:
        self.received_count += 1
        if self._record:
            self.received.append(message)
            self._notify()

    def note_sent(self, event: JsonDict) -> None:
        self.sent_count += 1
        if self._record:
            self.sent.append(event)
            self._notify()

    def note_closed(self) -> None:
        self.closed.set()
        self._notify()

    # --------------------------------------------------------------- test side

    @property
    def mode(self) -> SessionMode:
        """Current session mode (follows ``session.update``)."""
        return self._control.mode if self._control is not None else "conversational"

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def received_types(self) -> list[str]:
        return [str(m.get("type")) for m in self.received]

    @property
    def sent_types(self) -> list[str]:
        return [str(e.get("type")) for e in self.sent]

    async def _wait_in(
        self, messages: list[JsonDict], predicate: Predicate, limit_s: float, start: int, what: str
    ) -> JsonDict:
        index = start
        try:
            async with asyncio.timeout(limit_s):
                while True:
                    while index < len(messages):
                        if predicate(messages[index]):
                            return messages[index]
                        index += 1
                    if self.closed.is_set():
                        raise TransportClosedError(
                            f"realtime session closed before a matching {what} arrived"
                        )
                    await self._changed.wait()
        except TimeoutError:
            types = [str(m.get("type")) for m in messages[start:]]
            raise TimeoutError(f"no matching {what} within {limit_s}s; saw types {types}") from None

    async def wait_for_message(
        self,
        predicate: Predicate,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> JsonDict:
        """First client message (from index ``start``) matching ``predicate``."""
        return await self._wait_in(self.received, predicate, timeout, start, "client message")

    async def wait_for_type(
        self,
        event_type: str,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> JsonDict:
        """First client message of ``event_type``."""
        return await self.wait_for_message(
            lambda m: m.get("type") == event_type, timeout, start=start
        )

    async def wait_for_count(self, n: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``n`` client messages were received."""
        if n > 0:
            await self._wait_in(
                self.received, lambda _m: True, timeout, n - 1, f"client message #{n}"
            )

    async def wait_for_sent(
        self,
        predicate: Predicate,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> JsonDict:
        """First server event (from index ``start``) matching ``predicate``."""
        return await self._wait_in(self.sent, predicate, timeout, start, "server event")

    async def send_event(self, event: JsonDict) -> None:
        """Inject a server event (an ``event_id`` is added when missing)."""
        if self._control is None:
            raise TransportClosedError("realtime session is not connected")
        await self._control.inject(event)

    async def close(self, code: int = 1000) -> None:
        """Close the socket from the server side."""
        if self._control is not None:
            await self._control.close(code)

    async def wait_closed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self.closed.wait()

"""The client's transports: a child process's stdio, or a WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from realtalk._boundary import connect_rules, hostname, map_exceptions
from realtalk._errors import ConfigError, ConnectError, HandshakeError, TransportClosedError
from realtalk._secrets import scrub
from realtalk._wslog import WS_CLIENT_LOGGER

__all__ = ["READ_LIMIT", "Link", "ProcessLink", "WebSocketLink"]

logger = logging.getLogger(__name__)

READ_LIMIT: Final = 64 * 1024 * 1024
"""Largest message the client accepts."""
_CLOSE_TIMEOUT_S: Final = 5.0

OnMessage = Callable[[bytes | str], Awaitable[None]]


class Link(Protocol):
    """What the client needs from a transport."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self, on_message: OnMessage) -> None:
        """Hand every inbound message to ``on_message`` until the transport closes."""
        ...

    async def close(self) -> None: ...


class WebSocketLink:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(
        cls, url: str, *, token: str | None, origin: str | None, open_timeout: float
    ) -> WebSocketLink:
        """Connect (no compression); refusals become :class:`HandshakeError`."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        host = hostname(url) or ""
        with map_exceptions(
            (InvalidURI, lambda exc: ConfigError(f"invalid app-server URL {url}: {exc}")),
            (InvalidStatus, _refusal),
            *connect_rules(
                f"the app-server at {url}",
                timeout_s=open_timeout,
                host=host,
                hint="check the URL and that the app-server is running",
                network=(OSError, InvalidHandshake, ValueError),
            ),
        ):
            ws = await connect(
                url,
                additional_headers=headers,
                origin=origin,  # type: ignore[arg-type]
                compression=None,
                max_size=READ_LIMIT,
                open_timeout=open_timeout,
                proxy=None if host in ("127.0.0.1", "localhost", "::1") else True,
                logger=WS_CLIENT_LOGGER,  # websockets logs headers at DEBUG: redact the token
            )
        return cls(ws)

    async def send(self, data: bytes) -> None:
        try:
            await self.ws.send(data.decode())
        except ConnectionClosed as exc:
            raise TransportClosedError("the app-server connection is closed") from exc

    async def receive(self, on_message: OnMessage) -> None:
        try:
            async for message in self.ws:
                await on_message(message)
        except ConnectionClosed:
            pass

    async def close(self) -> None:
        await self.ws.close()


def _refusal(exc: InvalidStatus) -> HandshakeError:
    status = exc.response.status_code
    body = scrub(exc.response.body.decode("utf-8", "replace")) if exc.response.body else ""
    return HandshakeError(
        f"the app-server refused the connection (HTTP {status}): {body.strip()}",
        status=status,
        body=body,
    )


class ProcessLink:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def spawn(
        cls, argv: list[str], *, env: Mapping[str, str] | None, cwd: str | None
    ) -> ProcessLink:
        """Start ``argv`` with piped stdin/stdout (stderr is inherited)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                limit=READ_LIMIT,
            )
        except OSError as exc:
            raise ConnectError(f"cannot start the app-server {argv[0]!r}: {exc}") from exc
        return cls(proc)

    async def send(self, data: bytes) -> None:
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            raise TransportClosedError("the app-server process's stdin is closed")
        try:
            stdin.write(data + b"\n")
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise TransportClosedError("the app-server process exited") from exc

    async def receive(self, on_message: OnMessage) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                if line.strip():
                    await on_message(line)
        except (ValueError, ConnectionError) as exc:
            logger.warning("app-server output unreadable: %s", exc)

    async def close(self) -> None:
        proc = self.proc
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()

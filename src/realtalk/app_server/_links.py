"""The client's transports: a child process's stdio, or a WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidProxy, InvalidStatus

from realtalk._errors import ConnectError, HandshakeError, TransportClosedError
from realtalk._proxy import proxy_setup_error
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
        host = urlsplit(url).hostname or ""
        try:
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
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = scrub(exc.response.body.decode("utf-8", "replace")) if exc.response.body else ""
            raise HandshakeError(
                f"the app-server refused the connection (HTTP {status}): {body.strip()}",
                status=status,
                body=body,
            ) from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise ConnectError(f"cannot connect to the app-server at {url}: {exc}") from exc
        except (InvalidProxy, ImportError, ValueError) as exc:  # after OSError (ssl errors)
            proxy_problem = proxy_setup_error(exc)
            if proxy_problem is None:
                raise ConnectError(f"cannot connect to the app-server at {url}: {exc}") from exc
            # From None: the proxy error's text carries the proxy URL and its credentials.
            raise ConnectError(
                f"cannot connect to the app-server at {url}: {proxy_problem}"
            ) from None
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

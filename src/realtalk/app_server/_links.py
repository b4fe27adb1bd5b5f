"""The client's transports: a child process's stdio, or a WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol

from aiohttp import ClientError, WSMsgType

from realtalk._boundary import hostname
from realtalk._errors import ConnectError, HandshakeError, TransportClosedError
from realtalk._secrets import scrub
from realtalk._ws_connect import WebSocket, open_websocket, redact_url

__all__ = ["READ_LIMIT", "Link", "ProcessLink", "WebSocketLink"]

logger = logging.getLogger(__name__)

READ_LIMIT: Final = 64 * 1024 * 1024
"""Largest message the client accepts."""
_CLOSE_TIMEOUT_S: Final = 5.0
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_CLOSED: Final = "the app-server connection is closed"

OnMessage = Callable[[bytes | str], Awaitable[None]]


class Link(Protocol):
    """What the client needs from a transport."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self, on_message: OnMessage) -> None:
        """Hand every inbound message to ``on_message`` until the transport closes."""
        ...

    async def close(self) -> None: ...


class WebSocketLink:
    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket

    @classmethod
    async def open(
        cls, url: str, *, token: str | None, origin: str | None, open_timeout: float
    ) -> WebSocketLink:
        """Connect (no compression); refusals become :class:`HandshakeError`.

        Raises:
            ConfigError: The URL is not a valid ws/wss URL.
            HandshakeError: The app-server answered the upgrade with an HTTP error.
            ConnectError: It could not be reached (refused, DNS, TLS, proxy, timeout).
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        socket = await open_websocket(
            url,
            headers,
            name="app-server",
            peer=f"the app-server at {redact_url(url)}",
            refused=_refusal,
            timeout_s=open_timeout,
            max_message_bytes=READ_LIMIT,
            hint="check the URL and that the app-server is running",
            origin=origin,
            # A local app-server is never reached through a proxy.
            use_proxy=(hostname(url) or "") not in _LOOPBACK,
            close_timeout_s=_CLOSE_TIMEOUT_S,
        )
        return cls(socket)

    async def send(self, data: bytes) -> None:
        ws = self.socket.ws
        if ws.closed:
            raise TransportClosedError(_CLOSED)
        try:
            await ws.send_frame(data, WSMsgType.TEXT)
        except (ClientError, ConnectionError, RuntimeError) as exc:
            raise TransportClosedError(_CLOSED) from exc

    async def receive(self, on_message: OnMessage) -> None:
        receive = self.socket.ws.receive
        while True:
            message = await receive()
            if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                await on_message(message.data)
            else:  # a close frame, the end of the stream or a protocol error
                return

    async def close(self) -> None:
        await self.socket.aclose()


def _refusal(status: int, raw: bytes) -> HandshakeError:
    body = scrub(raw.decode("utf-8", "replace")) if raw else ""
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

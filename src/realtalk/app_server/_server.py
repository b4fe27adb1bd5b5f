"""The app-server: connections over stdio or one WebSocket listener."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from types import TracebackType
from typing import BinaryIO, Final, Self
from urllib.parse import urlsplit

from aiohttp.web import AppRunner, SockSite

from realtalk._config import Settings
from realtalk._errors import ConfigError
from realtalk.app_server._connection import Connection, ConnectionLimits
from realtalk.app_server._dispatch import AppServerOptions, Dispatcher
from realtalk.app_server._lifecycle import ThreadRegistry
from realtalk.app_server._stdio import open_stdio, run_stream_connection
from realtalk.app_server._store_memory import MemoryThreadStore
from realtalk.app_server._web import WebPage, page_origins
from realtalk.app_server._websocket import WebSocketListener

__all__ = ["AppServer", "is_loopback_host", "parse_listen_url"]

logger = logging.getLogger(__name__)

_CONNECTIONS_CLOSE_TIMEOUT_S: Final = 15.0
"""Longest wait for the connections at shutdown (a thread's own close is bounded at 10 s)."""


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen_url(url: str) -> tuple[str, int] | None:
    """``stdio://`` -> None; ``ws://HOST:PORT`` -> (host, port).

    Raises:
        ConfigError: Any other form.
    """
    if url in ("stdio", "stdio://"):
        return None
    parts = urlsplit(url)
    if parts.scheme != "ws" or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(
            f"--listen {url!r}: expected stdio:// or ws://HOST:PORT (e.g. ws://127.0.0.1:8765)"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"--listen {url!r}: the port must be 0..65535") from exc
    if port is None:
        raise ConfigError(f"--listen {url!r}: name a port (0 picks a free one)")
    return parts.hostname, port


class AppServer:
    """Serves the JSON-RPC app-server protocol; owns every connection it accepts."""

    def __init__(
        self,
        settings: Settings,
        options: AppServerOptions | None = None,
        *,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or AppServerOptions()
        self.limits = limits or ConnectionLimits()
        self.connections: set[Connection] = set()
        self.registry = ThreadRegistry(self.options.store or MemoryThreadStore())
        """The thread store and the threads loaded on any connection."""
        self._runner: AppRunner | None = None
        self._url: str | None = None
        self._web_url: str | None = None
        self._closed = False

    def new_connection(self, name: str) -> Connection:
        """A connection with its handlers bound (transports call this)."""
        conn = Connection(name, self.limits)
        Dispatcher(conn, self.settings, self.options, self.registry)
        self.connections.add(conn)
        return conn

    async def serve_stdio(
        self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
    ) -> None:
        """Serve one client on stdin/stdout until stdin closes."""
        conn = self.new_connection("stdio")
        try:
            async with open_stdio(stdin, stdout) as (chunks, write):
                await run_stream_connection(conn, chunks, write)
        finally:
            self.connections.discard(conn)
            await conn.aclose()

    @property
    def url(self) -> str:
        """``ws://host:port`` of the running listener."""
        if self._url is None:
            raise RuntimeError("the WebSocket listener is not started")
        return self._url

    async def start_websocket(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth_token: str | None = None,
        allowed_origins: Iterable[str] = (),
        web: bool = False,
    ) -> str:
        """Listen on ``ws://host:port`` (port 0 picks one); returns the URL.

        With ``web``, the same address also serves the browser page (see
        :attr:`web_url` and :mod:`realtalk.app_server._web` for its access rules).

        Raises:
            ConfigError: A non-loopback address without a token, or the bind failed.
        """
        loopback = is_loopback_host(host)
        if not loopback and not auth_token:
            raise ConfigError(
                f"listening on {host} (not loopback) requires --auth-token; "
                "clients then send Authorization: Bearer <token>"
            )
        page = WebPage() if web else None
        listener = WebSocketListener(
            self._accept,
            auth_token=auth_token or None,
            allowed_origins=allowed_origins,
            page=page,
        )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.setblocking(False)  # noqa: FBT003 (stdlib signature)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"app-server cannot listen on {host}:{port}: {exc}") from exc
        runner = AppRunner(listener.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await SockSite(runner, sock, backlog=512).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"ws://{shown}:{bound}"
        logger.info("app-server listening on %s", self._url)
        if page is not None:
            listener.allow_origins(page_origins(host, bound, loopback=loopback))
            self._web_url = page.url(f"http://{shown}:{bound}")
            logger.info("app-server serving the browser page on http://%s:%d/", shown, bound)
        return self._url

    @property
    def web_url(self) -> str:
        """The browser page's address, its token in the fragment (``--web`` only)."""
        if self._web_url is None:
            raise RuntimeError("the browser page is not served (start_websocket(web=True))")
        return self._web_url

    def _accept(self, name: str) -> Connection:
        conn = self.new_connection(name)

        async def forget() -> None:
            self.connections.discard(conn)

        previous = conn.on_close

        async def on_close() -> None:
            if previous is not None:
                await previous()
            await forget()

        conn.on_close = on_close
        return conn

    async def aclose(self) -> None:
        """Stop listening and close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            # Closes the WebSocket connections (1001); their handlers close them.
            await runner.cleanup()
        # A connection closes once, whoever asks: waiting for every close here means
        # their threads are closed when this returns, even if a handler was cancelled.
        try:
            async with asyncio.timeout(_CONNECTIONS_CLOSE_TIMEOUT_S):
                await asyncio.gather(
                    *(c.aclose() for c in list(self.connections)), return_exceptions=True
                )
        except TimeoutError:
            logger.warning(
                "app-server connections did not close within %g s; giving up on them",
                _CONNECTIONS_CLOSE_TIMEOUT_S,
            )
        self.connections.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

"""Layer boundaries: lower-layer exceptions become realtalk errors in one place.

:func:`map_exceptions` is httpcore's helper of that name, with two changes. A rule's
converter builds the whole error, since our messages say what failed and what to
do, not only which class. And a converter may decline (return None) so that the
next rule gets its turn: a connection failure is the proxy's only while a proxy is
set. The first rule that converts wins, and the result is raised ``from`` the
original; realtalk's own errors, cancellation and anything no rule converts pass
through unchanged.

:func:`connect_rules` are the rules every outbound connection shares (WebSocket or
HTTP, realtime, Responses, calls or app-server), so a timeout, a certificate or a
refused connection reads the same wherever it happens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from realtalk._errors import ConnectError, RealtalkError
from realtalk.tls import describe_tls_failure

__all__ = [
    "CONNECT_TIMEOUT_SETTING",
    "DEFAULT_HINT",
    "Redacted",
    "Rule",
    "connect_rules",
    "failure_reason",
    "hostname",
    "map_exceptions",
]


class Redacted(NamedTuple):
    """A converted error to raise ``from None``: the original's text carries a secret."""

    error: RealtalkError


Convert = Callable[[Any], RealtalkError | Redacted | None]
"""Builds our error from the lower-layer one, or None to leave it to the next rule."""

Rule = tuple[type[BaseException] | tuple[type[BaseException], ...], Convert]
"""(the exception classes it applies to, its converter)."""

DEFAULT_HINT = "check the base URL and that the server is running"
CONNECT_TIMEOUT_SETTING = "connect_timeout_s / --connect-timeout"
"""The setting that bounds connecting and call creation (named in their timeout errors)."""


@contextlib.contextmanager
def map_exceptions(*rules: Rule) -> Iterator[None]:
    """Convert an exception raised in the block with the first rule that matches it.

    Example::

        with map_exceptions((TimeoutError, lambda exc: ConnectError("timed out"))):
            await connect()
    """
    try:
        yield
    except RealtalkError:
        raise
    except Exception as exc:
        for kinds, convert in rules:
            if not isinstance(exc, kinds):
                continue
            mapped = convert(exc)
            if isinstance(mapped, Redacted):
                raise mapped.error from None
            if mapped is not None:
                raise mapped from exc
        raise


def connect_rules(
    peer: str,
    *,
    timeout_s: float,
    network: tuple[type[BaseException], ...],
    host: str | None = None,
    hint: str = DEFAULT_HINT,
    setting: str | None = None,
) -> tuple[Rule, ...]:
    """The rules of one connection attempt to ``peer``, in this order.

    * a timeout: ``timed out after {timeout_s}s ({setting}) waiting for {peer}``;
    * a certificate that failed verification, however wrapped: the TLS hint
      (:func:`realtalk.tls.describe_tls_failure`, naming ``host``);
    * one of the ``network`` failures: ``could not connect to {peer}: {reason}; {hint}``,
      with the operating system's reason rather than the library's rendering.

    Args:
        peer: Who was contacted, e.g. ``"the model server at api.openai.com"``.
        timeout_s: The limit that a ``TimeoutError`` means was reached.
        network: The library's connection failures (e.g. ``OSError``,
            ``aiohttp.ClientError``).
        host: The host contacted, for the TLS hint.
        hint: What to do about a failed connection.
        setting: The setting that holds ``timeout_s``, named in the timeout error so the
            user knows what to raise (e.g. :data:`CONNECT_TIMEOUT_SETTING`).
    """

    def timed_out(_: TimeoutError) -> ConnectError:
        if setting is None:
            return ConnectError(
                f"timed out after {timeout_s:g}s waiting for {peer}; "
                "check the base URL and the network"
            )
        return ConnectError(
            f"timed out after {timeout_s:g}s ({setting}) waiting for {peer}; "
            f"check the base URL and the network, or raise {setting.split(' / ')[0]}"
        )

    def tls(exc: BaseException) -> ConnectError | None:
        message = describe_tls_failure(exc, host=host)
        return None if message is None else ConnectError(message)

    def failed(exc: BaseException) -> ConnectError:
        return ConnectError(f"could not connect to {peer}: {failure_reason(exc)}; {hint}")

    return ((TimeoutError, timed_out), (Exception, tls), (network, failed))


def failure_reason(exc: BaseException) -> str:
    """Why a connection attempt failed, in words a user can act on.

    aiohttp's connector errors carry the OS error as ``os_error`` and render
    themselves with internals (``ssl:<ssl.SSLContext object at 0x...>``); the OS
    error's own text ("Connect call failed ('127.0.0.1', 1)", "Name or service not
    known") is what matters.
    """
    os_error = getattr(exc, "os_error", exc)
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror
    if os_error is not exc:
        return str(os_error) or type(os_error).__name__
    return str(exc) or type(exc).__name__


def hostname(url: str) -> str | None:
    """The host of ``url``, or None when it has none or does not parse."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None

"""The HTTP proxy the environment asks for (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``).

realtalk's aiohttp requests resolve their proxy here instead of ``trust_env=True``:
that also reads ``~/.netrc`` and, when it holds an entry for the API host, makes
aiohttp refuse our ``Authorization`` header with a ``ValueError`` (and it costs two
thread hops per request). The WebSocket connections (``realtalk._ws_connect``, also
aiohttp) resolve theirs here too.
"""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import MutableMapping
from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from realtalk._errors import ConfigError

__all__ = [
    "PROXY_SETTING_HINT",
    "EnvProxy",
    "env_proxy",
    "proxy_for_request",
]


PROXY_SETTING_HINT = (
    "check HTTPS_PROXY / HTTP_PROXY / ALL_PROXY: expected http://[user:pass@]HOST:PORT"
)


class EnvProxy(NamedTuple):
    url: str
    """The proxy URL without credentials."""
    headers: dict[str, str] | None
    """``Proxy-Authorization`` from the proxy URL's credentials (``http://user:pass@host``)."""


def env_proxy(url: str) -> EnvProxy | None:
    """The proxy for ``url`` per the environment, or None (none set, or ``NO_PROXY``).

    Raises:
        ConfigError: The proxy variable is not a URL (its value is never quoted).
    """
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme.lower())
    host = parts.hostname
    if not proxy or not host or urllib.request.proxy_bypass(host):
        return None
    try:
        split = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        port = split.port
    except ValueError:
        # from None, and no quoting: the value may carry credentials.
        raise ConfigError(
            f"the proxy setting is not a usable proxy URL; {PROXY_SETTING_HINT}"
        ) from None
    headers = None
    if split.username is not None:
        pair = f"{unquote(split.username)}:{unquote(split.password or '')}".encode()
        headers = {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    netloc = split.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    return EnvProxy(urlunsplit((split.scheme, netloc, split.path, "", "")), headers)


def proxy_for_request(
    url: str, headers: MutableMapping[str, str]
) -> tuple[str | None, dict[str, str] | None]:
    """aiohttp's ``proxy=`` and ``proxy_headers=`` for a request to ``url``.

    Proxy credentials ride the CONNECT request for https targets; a plain-http request
    has no CONNECT, so they go on the request itself (``headers`` is updated).
    """
    proxy = env_proxy(url)
    if proxy is None:
        return None, None
    if proxy.headers is not None and urlsplit(url).scheme.lower() == "http":
        headers.update(proxy.headers)
        return proxy.url, None
    return proxy.url, proxy.headers

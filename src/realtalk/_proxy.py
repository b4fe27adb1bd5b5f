"""The HTTP proxy the environment asks for (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``).

realtalk's aiohttp requests resolve their proxy here instead of ``trust_env=True``:
that also reads ``~/.netrc`` and, when it holds an entry for the API host, makes
aiohttp refuse our ``Authorization`` header with a ``ValueError`` (and it costs two
thread hops per request). The WebSocket connections (``websockets``) read the same
variables themselves.
"""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import MutableMapping
from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["EnvProxy", "env_proxy", "proxy_for_request"]


class EnvProxy(NamedTuple):
    url: str
    """The proxy URL without credentials."""
    headers: dict[str, str] | None
    """``Proxy-Authorization`` from the proxy URL's credentials (``http://user:pass@host``)."""


def env_proxy(url: str) -> EnvProxy | None:
    """The proxy for ``url`` per the environment, or None (none set, or ``NO_PROXY``)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme.lower())
    host = parts.hostname
    if not proxy or not host or urllib.request.proxy_bypass(host):
        return None
    split = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    headers = None
    if split.username is not None:
        pair = f"{unquote(split.username)}:{unquote(split.password or '')}".encode()
        headers = {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    netloc = split.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if split.port is not None:
        netloc = f"{netloc}:{split.port}"
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

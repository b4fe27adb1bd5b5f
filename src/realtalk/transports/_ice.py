"""Loopback-only ICE candidate gathering for offline WebRTC."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import aioice.ice

__all__ = ["loopback_ice_candidates"]

_LOOPBACK_HOSTS = ["127.0.0.1"]

# --- loopback-only ICE gathering -------------------------------------------------------
#
# aioice gathers host candidates from every interface *except* 127.0.0.1, so offline (or
# with no other interface) two local peers cannot connect. aioice has no option for this;
# the documented way is to replace ``aioice.ice.get_host_addresses``. We install a wrapper that answers
# loopback only while a ContextVar says so, and defers to the original otherwise. The
# ContextVar is set just around our own ``setLocalDescription`` (gathering runs there, in
# tasks that inherit the context), so other peers in the process are unaffected. The
# wrapper is installed on first use and removed when the last user leaves (refcounted).

_LOOPBACK_ONLY: ContextVar[bool] = ContextVar("realtalk_ice_loopback", default=False)
_hook_lock = threading.Lock()
_hook_users = 0
_original_get_host_addresses: Callable[..., list[str]] | None = None


# Positional booleans on purpose: this must keep aioice's exact signature.
def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:  # noqa: FBT001
    if _LOOPBACK_ONLY.get():
        return list(_LOOPBACK_HOSTS) if use_ipv4 else []
    original = _original_get_host_addresses
    assert original is not None
    return original(use_ipv4, use_ipv6)


@contextlib.contextmanager
def loopback_ice_candidates() -> Iterator[None]:
    """Within this block (and tasks started in it), aioice gathers only 127.0.0.1.

    Reversible and idempotent: nesting is fine, and aioice is restored once no block is
    active.
    """
    global _hook_users, _original_get_host_addresses
    with _hook_lock:
        if _hook_users == 0 and aioice.ice.get_host_addresses is not _get_host_addresses:
            _original_get_host_addresses = aioice.ice.get_host_addresses
            aioice.ice.get_host_addresses = _get_host_addresses
        _hook_users += 1
    token = _LOOPBACK_ONLY.set(True)
    try:
        yield
    finally:
        _LOOPBACK_ONLY.reset(token)
        with _hook_lock:
            _hook_users -= 1
            original = _original_get_host_addresses
            if (
                _hook_users == 0
                and original is not None
                and aioice.ice.get_host_addresses is _get_host_addresses
            ):
                aioice.ice.get_host_addresses = original

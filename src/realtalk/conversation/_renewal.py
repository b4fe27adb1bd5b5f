"""Opening a new realtime session when the one under a conversation ends.

A session ends at the server's cap (``session_expired``, close 1001), when its socket
drops, or when realtalk renews it before the cap (``rotate_after_s``, at a turn
boundary). The core decides that it ended and what the new session is told
(``realtalk.protocol.plan_restore``); this module opens it:

* **attempts**: the first at once, then with the shared backoff (``backoff_delay``:
  ``reconnect_retry_base_ms`` doubling, +-10% jitter), at most
  ``reconnect_max_retries`` in all; then :class:`ReconnectError`, which ends the
  conversation with one message naming the cause and the last failure.
* **flapping**: a new session that ends within :data:`STABLE_S` of opening counts as a
  failed attempt of the same streak, so a server that accepts and drops every session
  ends the conversation instead of looping; a session that lived longer (or a planned
  rotation) starts a new streak.
* **the new socket**: connect, send ``session.update`` (the same settings, tools and
  instructions plus the restore digest), then :class:`Reconnected`; the restored items
  and any input that arrived meanwhile follow through the new core's outbox.

WebRTC: the session is the call, and a call cannot be continued by another socket (the
media path belongs to the local peer, which would need a new offer). realtalk does not
re-create the call: the conversation ends with :func:`webrtc_message`, which says to
start again or use the WebSocket transport (which survives).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

import msgspec

from realtalk._config import Settings
from realtalk._errors import RealtalkError, ReconnectError
from realtalk.conversation._opener import SessionOpener
from realtalk.conversation._runtime import Connector, ConversationRuntime, Emit, backoff_delay
from realtalk.conversation._types import Reconnected
from realtalk.protocol import (
    RestorePlan,
    SessionConfig,
    SessionLost,
    realtime_ws_url,
    restored_instructions,
)
from realtalk.transports import RealtimeConnection

__all__ = ["STABLE_S", "Reconnector", "rotation_window", "webrtc_message"]

logger = logging.getLogger("realtalk.conversation")

STABLE_S: Final = 1.0
"""A new session that lives less than this is a failed attempt (the server flaps)."""
_GRACE_MIN_S: Final = 5.0
_GRACE_MAX_S: Final = 120.0

_CAUSE_WORDS: Final = {
    "session_expired": "the server ended the session at its time limit",
    "closed": "the server closed the connection",
    "read_error": "the connection failed",
    "send_failed": "sending failed",
    "rotation": "realtalk renewed the session",
}


def rotation_window(after_s: float) -> tuple[float, float] | None:
    """(after, grace) for a session renewed ``after_s`` s after it opened (0: never).

    It is renewed at the first turn boundary from ``after_s``, and at ``after_s +
    grace`` whatever is happening: a tenth of ``after_s``, 5 s to 2 minutes (the default
    55 minutes renews by 57 at the latest, before the server's 60-minute cap).
    """
    if after_s <= 0:
        return None
    return after_s, min(_GRACE_MAX_S, max(_GRACE_MIN_S, after_s / 10))


def _cause(lost: SessionLost) -> str:
    words = _CAUSE_WORDS[lost.cause]
    return f"{words} ({lost.detail})" if lost.detail else words


def webrtc_message(lost: SessionLost) -> str:
    """Why a WebRTC conversation ends when its session does, and what to do."""
    return (
        f"the realtime call ended: {_cause(lost)}. A WebRTC call cannot be continued in a "
        "new session; start the conversation again, or use --transport websocket, which "
        "re-opens the session with the conversation restored"
    )


class Reconnector:
    """Re-opens lost realtime sessions for one manager (attempts, backoff, flapping)."""

    def __init__(self, settings: Settings, *, opener: SessionOpener, emit: Emit) -> None:
        self._settings = settings
        self._opener = opener
        self._emit = emit
        self._attempts = 0  # of the current streak
        self._last = ""

    def restore(
        self,
        old: ConversationRuntime,
        runtime: ConversationRuntime,
        *,
        headers: Callable[[SessionConfig], dict[str, str]],
    ) -> Connector:
        """Restore ``old``'s conversation into ``runtime``'s (new) core; the connector that
        opens its session (the old session's settings, the digest in the instructions)."""
        lost, base = old.core.lost, old.config
        assert lost is not None and base is not None
        now = asyncio.get_running_loop().time()
        self.begin(lost, lived_s=None if old.opened_at is None else now - old.opened_at)
        plan = runtime.core.restore(old.core.snapshot())
        config = msgspec.structs.replace(
            base, instructions=restored_instructions(base.instructions, plan)
        )
        logger.info(
            "realtime session lost; opening a new one",
            extra={"cause": lost.cause, "detail": lost.detail, "restored_items": plan.replayed},
        )
        url = realtime_ws_url(
            self._settings.ws_base_url, version=config.version, mode=config.mode, model=config.model
        )
        return self.connector(
            url=url, headers=headers(config), config=config, lost=lost, plan=plan, since=now
        )

    def begin(self, lost: SessionLost, *, lived_s: float | None) -> None:
        """A session ended after ``lived_s`` s (None: it never opened)."""
        if lost.cause == "rotation" or (lived_s is not None and lived_s >= STABLE_S):
            self._attempts = 0
            self._last = ""
        elif self._attempts:
            self._last = f"the new session ended after {lived_s or 0:.1f}s ({lost.detail})"

    def connector(
        self,
        *,
        url: str,
        headers: dict[str, str],
        config: SessionConfig,
        lost: SessionLost,
        plan: RestorePlan,
        since: float,
    ) -> Connector:
        """Opens the new session (see the module docstring); ``since``: the loss (loop time)."""

        async def connect() -> RealtimeConnection:
            limit = self._settings.reconnect_max_retries
            while self._attempts < limit:
                self._attempts += 1
                if self._attempts > 1:
                    await asyncio.sleep(
                        backoff_delay(self._attempts - 1, self._settings.reconnect_retry_base_ms)
                    )
                conn = await self._open(url, headers, config)
                if conn is None:
                    continue
                elapsed_ms = (asyncio.get_running_loop().time() - since) * 1000
                logger.info(
                    "realtime session re-opened",
                    extra={
                        "cause": lost.cause,
                        "attempts": self._attempts,
                        "restored_items": plan.replayed,
                        "folded_items": plan.folded,
                        "elapsed_ms": round(elapsed_ms, 1),
                    },
                )
                await self._emit(
                    Reconnected(
                        cause=lost.cause,
                        attempts=self._attempts,
                        restored_items=plan.replayed,
                        folded_items=plan.folded,
                        elapsed_ms=round(elapsed_ms, 1),
                    )
                )
                return conn
            raise ReconnectError(
                f"the realtime session was lost ({_cause(lost)}) and could not be re-opened "
                f"after {self._attempts} attempts: {self._last or 'no attempt was allowed'}; "
                "check the network and the server, then start the conversation again"
            )

        return connect

    async def _open(
        self, url: str, headers: dict[str, str], config: SessionConfig
    ) -> RealtimeConnection | None:
        """One attempt: the socket with ``session.update`` sent, or None (logged)."""
        try:
            return await self._opener.websocket(url, headers, config)
        except RealtalkError as exc:  # (cancelled: the socket is aborted, not leaked)
            self._failed(str(exc))
            return None

    def _failed(self, error: str) -> None:
        self._last = error
        logger.warning(
            "re-opening the realtime session failed: %s",
            error,
            extra={"attempt": self._attempts, "max_attempts": self._settings.reconnect_max_retries},
        )

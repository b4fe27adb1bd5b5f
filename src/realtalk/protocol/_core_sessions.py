"""How a realtime session ends under the conversation core, and how the next continues.

Part of :class:`ConversationCore` (pure). The socket closes (:meth:`stream_ended`),
reading or sending fails (:meth:`stream_failed`, :meth:`send_failed`), the server says
``session_expired`` (its ``error``, :mod:`._core_events`), or the session reaches its
age limit (:meth:`schedule_rotation`, :meth:`tick`: renewed at the first turn boundary
after it is due, at its deadline whatever is happening). A plain core ends the
conversation then; a *resumable* one ends only the session (``session_lost``, see
:meth:`CoreState._lose`), and a new core :meth:`restore` s the conversation from the
old one's snapshot (the plan: :mod:`._restore`). A failed send of a ``response.create``
that met an active response, or of a truncate, is survived.
"""

from __future__ import annotations

import logging

from realtalk.protocol._core_state import CREATE, TRUNCATE, CoreState
from realtalk.protocol._history import History
from realtalk.protocol._restore import ConversationSnapshot, Replayed, RestorePlan, plan_restore

__all__ = ["SessionEnds"]

logger = logging.getLogger(__name__)


class SessionEnds(CoreState):
    """The end of a session, and a conversation continued on a new one."""

    def restore(
        self, snapshot: ConversationSnapshot, plan: RestorePlan | None = None
    ) -> RestorePlan:
        """Continue ``snapshot``'s conversation on this core's (new) session.

        Call before any other input. Queues the replayed history (``plan``, by default
        :func:`plan_restore` of the snapshot) and, if an answer was owed, a
        ``response.create``; adopts a running delegated task; carries the turn state
        over, so a turn open in the old session ends here. The server's acks of the
        replayed items are not shown again (:class:`Replayed`). Returns the plan: its
        digest belongs in this session's instructions (:func:`restored_instructions`).
        """
        plan = plan or plan_restore(snapshot)
        self._history = History(snapshot.history, snapshot.history_dropped)
        for message in plan.messages:
            self._send(message, "restored history")
        self._replayed = Replayed(plan.messages)
        self._handoff.adopt(snapshot.handoff_phase, snapshot.stale_ends)
        self._questions.adopt(snapshot.question)
        self._answers.carry(busy=snapshot.busy)
        if plan.respond:
            self._request_create("restored turn")
        self._update_turn()
        return plan

    def schedule_rotation(self, due: float, deadline: float) -> None:
        """Renew the session at the first turn boundary from ``due``, at ``deadline`` at
        the latest (monotonic seconds, as ``now``); :meth:`tick` tells the time."""
        self._rotation.schedule(due, deadline)

    def tick(self, now: float) -> None:
        """The time passed: a scheduled rotation may be due (or past its deadline)."""
        if self.end_reason is None and (when := self._rotation.tick(now)) is not None:
            if when == "deadline":
                self._lose("rotation", "renewed the session at its age limit (mid-turn)")
            else:
                self._rotate_if_quiet()

    def stream_ended(self, detail: str = "") -> None:
        """The server closed the socket (``detail``: its close code and reason): the
        conversation ends (``transport_closed``; resumable: ``session_lost``)."""
        if self._lose("closed", detail or "the server closed the connection"):
            return
        if self.end_reason is None:
            logger.info("realtime stream closed by the server")
            self.end_reason = "transport_closed"

    def stream_failed(self, message: str) -> None:
        """Reading failed: an error, then the end (resumable: ``session_lost``)."""
        if not self._lose("read_error", message):
            self.fail(f"realtime stream error: {message}")

    def send_failed(self, error: str) -> None:
        """Sending the message last returned by :meth:`next_message` failed."""
        what = self._outbox.last
        if what == CREATE and self._answers.send_failed(error):
            self._update_turn()
            return  # "already has an active response": owed again, not fatal
        if what == TRUNCATE:
            logger.warning("failed to truncate realtime audio: %s", error)
            return
        if not self._lose("send_failed", f"failed to send {what}: {error}"):
            self.fail(f"failed to send {what}: {error}")

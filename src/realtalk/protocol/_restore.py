"""Continuing a conversation on a new realtime session (pure).

A realtime session ends at the server's cap (``session_expired``, then close 1001),
when its socket drops, or when realtalk renews it before the cap. The conversation then
goes on in a new session; :func:`plan_restore` decides what that session is told, from
the old conversation's :class:`ConversationSnapshot`:

* **instructions and tools** are the session's own (the same ``session.update``);
* **the history** (``realtalk.protocol._history``) is replayed as
  ``conversation.item.create`` items, oldest first: user messages as text (v2 with
  ``[USER] ``; spoken turns by their transcript), the assistant's answers as assistant
  ``output_text`` items (an audio answer by its transcript), the agent's updates as the
  ``[BACKEND] `` items they were. Newest first, items are kept while they fit
  :data:`RESTORE_BUDGET_CHARS` and :data:`RESTORE_MAX_ITEMS` (one item is cut to
  :data:`RESTORE_ITEM_CHARS`);
* **beyond the budget** the older messages are folded into a digest appended to the
  instructions: one shortened line each (:data:`DIGEST_LINE_CHARS`), newest first while
  they fit :data:`DIGEST_BUDGET_CHARS`; older ones still are left out, and the digest
  says how many;
* **an answer that was owed** (a question not yet answered, or an answer cut by the
  drop) is asked for again with ``response.create`` after the items;
* **a delegated task still running** cannot be answered through its function call (the
  call belonged to the old session): the instructions say a task is running, its
  updates arrive as ``[BACKEND] `` items, and when it completes the model is asked to
  respond (``HandoffState.adopt``).

Every replayed item carries an ``event_id`` (``realtalk_restore_N``), so an ``error``
about one of them is recognised and survived: a refused item loses one message, never
the conversation. A transcription session replays nothing (it has no conversation).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from realtalk.protocol._codec import (
    assistant_text_item,
    backend_text_item,
    user_text_item,
)
from realtalk.protocol._delegation import truncate_output
from realtalk.protocol._events import Mode, TranscriptEntry, Version
from realtalk.protocol._handoff import HandoffPhase
from realtalk.protocol._history import HistoryEntry
from realtalk.protocol._questions import PendingQuestion

__all__ = [
    "DIGEST_BUDGET_CHARS",
    "DIGEST_LINE_CHARS",
    "RESTORE_BUDGET_CHARS",
    "RESTORE_EVENT_PREFIX",
    "RESTORE_ITEM_CHARS",
    "RESTORE_MAX_ITEMS",
    "SESSION_EXPIRED_CODE",
    "TASK_PENDING_NOTE",
    "ConversationSnapshot",
    "LossCause",
    "Replayed",
    "RestorePlan",
    "Rotation",
    "SessionLost",
    "plan_restore",
    "restored_instructions",
]

RESTORE_BUDGET_CHARS: Final = 12_000
"""Characters of history replayed as items (~3,000 tokens of a 32k context)."""
RESTORE_MAX_ITEMS: Final = 64
RESTORE_ITEM_CHARS: Final = 4_000
"""Longest replayed item (as the agent's own updates): its head and a marker."""
DIGEST_BUDGET_CHARS: Final = 4_000
DIGEST_LINE_CHARS: Final = 200
RESTORE_EVENT_PREFIX: Final = "realtalk_restore_"
SESSION_EXPIRED_CODE: Final = "session_expired"
"""``error.code`` when the server ends a session at its maximum duration."""

_DIGEST_HEAD: Final = (
    "This conversation continues in a new session; its latest messages follow as "
    "conversation items. Earlier messages, oldest first and shortened:"
)
TASK_PENDING_NOTE: Final = (
    "The background agent is still working on a task the user asked for before this "
    "session began. Its updates and result will arrive as [BACKEND] messages; when it "
    "finishes, tell the user the result."
)

LossCause = Literal["closed", "read_error", "send_failed", "session_expired", "rotation"]


@dataclass(frozen=True, slots=True)
class SessionLost:
    """Why a realtime session ended in a way a new session can continue.

    ``cause``: the server closed the socket (``closed``; ``detail`` has the close code
    and reason), reading or sending failed, the server's ``session_expired`` error, or
    realtalk renewed the session before the server's cap (``rotation``).
    """

    cause: LossCause
    detail: str


@dataclass(frozen=True, slots=True)
class ConversationSnapshot:
    """What a conversation knows, for a UI or to continue it on a new session."""

    version: Version
    transcript: tuple[TranscriptEntry, ...]
    active_handoff_id: str | None
    busy: bool
    mode: Mode = Mode.CONVERSATIONAL
    history: tuple[HistoryEntry, ...] = ()
    history_dropped: int = 0
    handoff_phase: HandoffPhase = HandoffPhase.IDLE
    answer_owed: bool = False
    """A question was not answered yet, or its answer was still being given."""
    stale_ends: int = 0
    """Cancelled agent tasks whose end is still to come (their events are dropped)."""
    question: PendingQuestion | None = None
    """The agent's approval question still waiting for the user's answer."""


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """What a new session is told (see the module docstring)."""

    messages: tuple[dict[str, Any], ...]
    """``conversation.item.create`` messages to send first, oldest first."""
    digest: str
    """Older messages folded for the instructions ("" if none)."""
    replayed: int
    folded: int
    left_out: int
    respond: bool
    task_pending: bool


def _replay_item(entry: HistoryEntry, version: Version, number: int) -> dict[str, Any]:
    text = truncate_output(entry.text, RESTORE_ITEM_CHARS)
    if entry.role == "assistant":
        message = assistant_text_item(text)
    elif entry.source == "agent":
        message = backend_text_item(text)
    else:
        message = user_text_item(version, text)
    message["event_id"] = f"{RESTORE_EVENT_PREFIX}{number}"
    return message


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plan_restore(
    snapshot: ConversationSnapshot,
    *,
    budget_chars: int = RESTORE_BUDGET_CHARS,
    max_items: int = RESTORE_MAX_ITEMS,
    digest_chars: int = DIGEST_BUDGET_CHARS,
) -> RestorePlan:
    """What to tell a new session to continue ``snapshot``'s conversation."""
    task_pending = snapshot.handoff_phase is not HandoffPhase.IDLE
    if snapshot.mode is Mode.TRANSCRIPTION:
        return RestorePlan((), "", 0, 0, 0, respond=False, task_pending=False)
    entries = snapshot.history
    kept = used = 0
    for entry in reversed(entries):
        cost = min(len(entry.text), RESTORE_ITEM_CHARS)
        if kept >= max_items or used + cost > budget_chars:
            break
        kept += 1
        used += cost
    split = len(entries) - kept
    older, recent = entries[:split], entries[split:]
    messages = tuple(
        _replay_item(entry, snapshot.version, number)
        for number, entry in enumerate(recent, start=1)
    )
    lines: list[str] = []
    used = 0
    for entry in reversed(older):
        line = f"- {entry.role}: {_shorten(entry.text, DIGEST_LINE_CHARS)}"
        if used + len(line) + 1 > digest_chars:
            break
        lines.append(line)
        used += len(line) + 1
    lines.reverse()
    left_out = len(older) - len(lines) + snapshot.history_dropped
    digest = ""
    if lines or left_out:
        parts = [_DIGEST_HEAD]
        if left_out:
            parts.append(f"({left_out} older messages are left out.)")
        parts.extend(lines)
        digest = "\n".join(parts)
    return RestorePlan(
        messages,
        digest,
        replayed=len(messages),
        folded=len(lines),
        left_out=left_out,
        respond=snapshot.answer_owed,
        task_pending=task_pending,
    )


def restored_instructions(instructions: str, plan: RestorePlan) -> str:
    """The new session's instructions: the old ones, the digest, a running task's note."""
    parts = [instructions] if instructions else []
    if plan.digest:
        parts.append(plan.digest)
    if plan.task_pending:
        parts.append(TASK_PENDING_NOTE)
    return "\n\n".join(parts)


# --- helpers of the conversation core ------------------------------------------------


def _message_text(item: dict[str, Any]) -> tuple[str, str] | None:
    """(role, text) of a message item with one text part; None for anything else."""
    content = item.get("content")
    if item.get("type") != "message" or type(content) is not list or len(content) != 1:
        return None
    part = content[0]
    text = part.get("text") if type(part) is dict else None
    return (str(item.get("role")), text) if type(text) is str else None


class Replayed:
    """The items a restore sent: the server's acks of them, and its errors about them.

    The server acks each replayed item (``conversation.item.added`` then ``.done``); a
    UI showed those messages already, so the core hides the acks (matched in order by
    role and text; anything else is shown). An ``error`` whose ``event_id`` is a
    replayed item's is survived (one message lost, not the conversation).
    """

    __slots__ = ("_acked", "_expected", "_ids")

    def __init__(self, messages: Iterable[dict[str, Any]]) -> None:
        self._expected: deque[tuple[str, str]] = deque()
        ids: set[str] = set()
        for message in messages:
            ids.add(message["event_id"])
            expected = _message_text(message["item"])
            if expected is not None:
                self._expected.append(expected)
        self._ids = frozenset(ids)
        self._acked: set[str] = set()

    def is_ack(self, item: dict[str, Any]) -> bool:
        if not self._expected or _message_text(item) != self._expected[0]:
            return False
        self._expected.popleft()
        self._acked.add(str(item.get("id")))
        return True

    def is_ack_done(self, item_id: str) -> bool:
        if item_id not in self._acked:
            return False
        self._acked.discard(item_id)
        return True

    def refused(self, event_id: str | None) -> bool:
        return event_id is not None and event_id in self._ids


class Rotation:
    """When to renew the session: due at a turn boundary, or at the deadline anyway."""

    __slots__ = ("_at", "due")

    def __init__(self) -> None:
        self._at: tuple[float, float] | None = None
        self.due = False
        """The rotation is due: renew at the next turn boundary."""

    def schedule(self, due: float, deadline: float) -> None:
        self._at = (due, max(due, deadline))
        self.due = False

    def tick(self, now: float) -> Literal["due", "deadline"] | None:
        if self._at is None:
            return None
        due, deadline = self._at
        if now >= deadline:
            return "deadline"
        if now >= due:
            self.due = True
            return "due"
        return None

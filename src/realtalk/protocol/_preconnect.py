"""The startup-preconnect slot of the Responses model client, as a pure state machine.

Theory of operation
-------------------
At session start the model client opens one WebSocket in the background (handshake
only, no request) so that the first turn does not pay for the handshake. The slot
that tracks this is a single-use, single-entry machine with three states:

* ``IDLE``: nothing is tracked.
* ``IN_FLIGHT``: a background attempt is running; the slot holds its *handle*, an
  opaque token (the I/O layer uses its task object).
* ``READY``: the attempt succeeded; the slot holds the *warmed* connection (an
  opaque value: the socket plus the turn-state token captured by its handshake).

Inputs and what they mean:

* ``START``: a new attempt was spawned (its handle comes with the input).
* ``SUCCEED`` / ``FAIL``: the *tracked* attempt finished, with or without a warmed
  connection.
* ``STALE``: an attempt that is no longer tracked finished (it was replaced or
  cleared); whatever it produced is handed back for disposal.
* ``TAKE``: a turn wants the warmed connection (single use).
* ``AWAIT``: a turn asks which attempt to wait for. The state does not change: the
  turn waits for the handle, and the attempt's own ``SUCCEED``/``FAIL`` then moves
  the slot on, after which the turn sends ``TAKE`` again.
* ``CLEAR``: forget everything (a turn opens its own socket, the client falls back
  to HTTP, or it closes).

Every (state, input) pair has an entry in :data:`TRANSITIONS` (a :class:`StateTable`,
the shape every protocol state machine shares), giving the next state and one
:class:`Action` telling the I/O layer what to do with the values that leave the slot
(cancel a handle, close a connection, hand it to a turn).
Nothing here does I/O, reads a clock or imports asyncio.
"""

from __future__ import annotations

import enum
from typing import Final, Generic, NamedTuple, TypeVar

from realtalk.protocol._table import StateTable, Step

__all__ = [
    "TRANSITIONS",
    "Action",
    "PreconnectInput",
    "PreconnectSlot",
    "PreconnectState",
    "SlotOutput",
    "transition",
]

H = TypeVar("H")
W = TypeVar("W")


class PreconnectState(enum.Enum):
    """Where the preconnect slot is."""

    IDLE = "idle"
    IN_FLIGHT = "in_flight"
    READY = "ready"


class PreconnectInput(enum.Enum):
    """What happened to the slot."""

    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    STALE = "stale"
    TAKE = "take"
    AWAIT = "await"
    CLEAR = "clear"


class Action(enum.Enum):
    """What the I/O layer must do after a transition."""

    NONE = "none"
    """Nothing leaves the slot."""
    TRACK = "track"
    """The new handle is now tracked; nothing to do."""
    CANCEL_PREVIOUS = "cancel_previous"
    """The new handle replaced the tracked one: cancel the previous attempt."""
    CANCEL_NEW = "cancel_new"
    """A warmed connection is already there: cancel the attempt just started."""
    STORE = "store"
    """The warmed connection is now held by the slot."""
    DISCARD_RESULT = "discard_result"
    """The slot does not want this result: close the connection, if any."""
    HAND_OVER = "hand_over"
    """Give the warmed connection to the caller (it is no longer in the slot)."""
    WAIT_FOR = "wait_for"
    """The caller should wait for the tracked handle, then ``TAKE`` again."""
    CANCEL_TRACKED = "cancel_tracked"
    """Cancel the tracked attempt."""
    CLOSE_WARMED = "close_warmed"
    """Close the warmed connection that was held."""


_I = PreconnectState.IDLE
_F = PreconnectState.IN_FLIGHT
_R = PreconnectState.READY
_In = PreconnectInput

_STEPS: Final[dict[tuple[PreconnectState, PreconnectInput], tuple[PreconnectState, Action]]] = {
    # START: a background attempt was spawned.
    (_I, _In.START): (_F, Action.TRACK),
    (_F, _In.START): (_F, Action.CANCEL_PREVIOUS),
    (_R, _In.START): (_R, Action.CANCEL_NEW),
    # SUCCEED: the tracked attempt produced a warmed connection. Only reachable from
    # IN_FLIGHT through PreconnectSlot.finished(); other states discard defensively.
    (_I, _In.SUCCEED): (_I, Action.DISCARD_RESULT),
    (_F, _In.SUCCEED): (_R, Action.STORE),
    (_R, _In.SUCCEED): (_R, Action.DISCARD_RESULT),
    # FAIL: the tracked attempt ended without a connection.
    (_I, _In.FAIL): (_I, Action.NONE),
    (_F, _In.FAIL): (_I, Action.NONE),
    (_R, _In.FAIL): (_R, Action.NONE),
    # STALE: an untracked attempt finished; its result is not wanted.
    (_I, _In.STALE): (_I, Action.DISCARD_RESULT),
    (_F, _In.STALE): (_F, Action.DISCARD_RESULT),
    (_R, _In.STALE): (_R, Action.DISCARD_RESULT),
    # TAKE: single use; only READY hands something over.
    (_I, _In.TAKE): (_I, Action.NONE),
    (_F, _In.TAKE): (_F, Action.NONE),
    (_R, _In.TAKE): (_I, Action.HAND_OVER),
    # AWAIT: the in-flight attempt stands in for the turn's own first connect.
    (_I, _In.AWAIT): (_I, Action.NONE),
    (_F, _In.AWAIT): (_F, Action.WAIT_FOR),
    (_R, _In.AWAIT): (_R, Action.NONE),
    # CLEAR: drop whatever the slot holds.
    (_I, _In.CLEAR): (_I, Action.NONE),
    (_F, _In.CLEAR): (_I, Action.CANCEL_TRACKED),
    (_R, _In.CLEAR): (_I, Action.CLOSE_WARMED),
}

TRANSITIONS: Final = StateTable("preconnect slot", PreconnectState, PreconnectInput, _STEPS)


def transition(state: PreconnectState, event: PreconnectInput) -> Step[PreconnectState, Action]:
    """Look up the transition for ``(state, event)`` (every pair is defined)."""
    return TRANSITIONS.step(state, event)


class SlotOutput(NamedTuple, Generic[H, W]):
    """What left the slot in one step; the I/O layer acts on it per ``action``."""

    action: Action
    handle: H | None = None
    warmed: W | None = None


class PreconnectSlot(Generic[H, W]):
    """The single preconnect slot: a state plus the handle or warmed value it holds.

    The methods classify a call into a :class:`PreconnectInput`, apply
    :data:`TRANSITIONS`, and return a :class:`SlotOutput` naming the values the
    caller now owns (to cancel, close or use).
    """

    def __init__(self) -> None:
        self._state = PreconnectState.IDLE
        self._handle: H | None = None
        self._warmed: W | None = None

    @property
    def state(self) -> PreconnectState:
        """The current state."""
        return self._state

    def start(self, handle: H) -> SlotOutput[H, W]:
        """Record a newly spawned attempt.

        Returns ``CANCEL_PREVIOUS`` with the replaced handle, ``CANCEL_NEW`` with
        ``handle`` itself when a warmed connection is already held, else ``TRACK``.
        """
        step = self._apply(PreconnectInput.START)
        if step.output is Action.CANCEL_PREVIOUS:
            previous, self._handle = self._handle, handle
            return SlotOutput(step.output, handle=previous)
        if step.output is Action.CANCEL_NEW:
            return SlotOutput(step.output, handle=handle)
        self._handle = handle
        return SlotOutput(step.output)

    def finished(self, handle: H, warmed: W | None) -> SlotOutput[H, W]:
        """Report that the attempt ``handle`` ended, with ``warmed`` or None on failure.

        Returns ``STORE`` when the slot keeps ``warmed``; ``DISCARD_RESULT`` with
        ``warmed`` when the caller must close it; ``NONE`` otherwise.
        """
        tracked = self._state is PreconnectState.IN_FLIGHT and self._handle is handle
        if not tracked:
            event = PreconnectInput.STALE
        elif warmed is None:
            event = PreconnectInput.FAIL
        else:
            event = PreconnectInput.SUCCEED
        step = self._apply(event)
        if tracked:
            self._handle = None
        if step.output is Action.STORE:
            self._warmed = warmed
            return SlotOutput(step.output)
        if step.output is Action.DISCARD_RESULT:
            return SlotOutput(step.output, warmed=warmed)
        return SlotOutput(step.output)

    def take(self) -> W | None:
        """Hand over the warmed connection if one is held (single use)."""
        step = self._apply(PreconnectInput.TAKE)
        if step.output is Action.HAND_OVER:
            warmed, self._warmed = self._warmed, None
            return warmed
        return None

    def pending(self) -> H | None:
        """The in-flight attempt a turn should wait for, or None."""
        step = self._apply(PreconnectInput.AWAIT)
        return self._handle if step.output is Action.WAIT_FOR else None

    def clear(self) -> SlotOutput[H, W]:
        """Forget everything; the caller cancels the handle / closes the warmed value."""
        step = self._apply(PreconnectInput.CLEAR)
        handle, warmed = self._handle, self._warmed
        self._handle = None
        self._warmed = None
        return SlotOutput(step.output, handle=handle, warmed=warmed)

    def _apply(self, event: PreconnectInput) -> Step[PreconnectState, Action]:
        step = transition(self._state, event)
        self._state = step.state
        return step

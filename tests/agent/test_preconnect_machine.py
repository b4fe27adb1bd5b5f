"""The preconnect slot: the transition table, exhaustively, and the slot object."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from realtalk.protocol.responses import (
    TRANSITIONS,
    Action,
    PreconnectInput,
    PreconnectSlot,
    PreconnectState,
    transition,
)

IDLE, FLYING, READY = PreconnectState.IDLE, PreconnectState.IN_FLIGHT, PreconnectState.READY
In = PreconnectInput

# Restated independently of the implementation: (state, input) -> (next state, action).
EXPECTED: dict[tuple[PreconnectState, PreconnectInput], tuple[PreconnectState, Action]] = {
    (IDLE, In.START): (FLYING, Action.TRACK),
    (FLYING, In.START): (FLYING, Action.CANCEL_PREVIOUS),
    (READY, In.START): (READY, Action.CANCEL_NEW),
    (IDLE, In.SUCCEED): (IDLE, Action.DISCARD_RESULT),
    (FLYING, In.SUCCEED): (READY, Action.STORE),
    (READY, In.SUCCEED): (READY, Action.DISCARD_RESULT),
    (IDLE, In.FAIL): (IDLE, Action.NONE),
    (FLYING, In.FAIL): (IDLE, Action.NONE),
    (READY, In.FAIL): (READY, Action.NONE),
    (IDLE, In.STALE): (IDLE, Action.DISCARD_RESULT),
    (FLYING, In.STALE): (FLYING, Action.DISCARD_RESULT),
    (READY, In.STALE): (READY, Action.DISCARD_RESULT),
    (IDLE, In.TAKE): (IDLE, Action.NONE),
    (FLYING, In.TAKE): (FLYING, Action.NONE),
    (READY, In.TAKE): (IDLE, Action.HAND_OVER),
    (IDLE, In.AWAIT): (IDLE, Action.NONE),
    (FLYING, In.AWAIT): (FLYING, Action.WAIT_FOR),
    (READY, In.AWAIT): (READY, Action.NONE),
    (IDLE, In.CLEAR): (IDLE, Action.NONE),
    (FLYING, In.CLEAR): (IDLE, Action.CANCEL_TRACKED),
    (READY, In.CLEAR): (IDLE, Action.CLOSE_WARMED),
}


def test_table_covers_every_state_and_input() -> None:
    pairs = set(itertools.product(PreconnectState, PreconnectInput))
    assert set(TRANSITIONS) == pairs
    assert set(EXPECTED) == pairs


@pytest.mark.parametrize(("state", "event"), list(EXPECTED))
def test_transition(state: PreconnectState, event: PreconnectInput) -> None:
    step = transition(state, event)
    assert (step.state, step.output) == EXPECTED[(state, event)]


# -- the slot object, driven into each state through its public methods --------------


class Conn:
    """Stands in for a warmed connection."""


Slot = PreconnectSlot[object, Conn]


def slot_in(state: PreconnectState) -> tuple[Slot, object | None, Conn | None]:
    slot: Slot = PreconnectSlot()
    handle: object | None = None
    warmed: Conn | None = None
    if state is not IDLE:
        handle = object()
        slot.start(handle)
    if state is READY:
        warmed = Conn()
        assert slot.finished(handle, warmed).action is Action.STORE
        handle = None  # a finished attempt is no longer tracked
    assert slot.state is state
    return slot, handle, warmed


def test_start_from_idle_tracks() -> None:
    slot, _, _ = slot_in(IDLE)
    out = slot.start("h")
    assert (out.action, out.handle, slot.state) == (Action.TRACK, None, FLYING)
    assert slot.pending() == "h"


def test_start_while_in_flight_returns_previous_to_cancel() -> None:
    slot, old, _ = slot_in(FLYING)
    out = slot.start("new")
    assert (out.action, out.handle, slot.state) == (Action.CANCEL_PREVIOUS, old, FLYING)
    assert slot.pending() == "new"


def test_start_while_ready_returns_new_to_cancel_and_keeps_warmed() -> None:
    slot, _, warmed = slot_in(READY)
    out = slot.start("new")
    assert (out.action, out.handle, slot.state) == (Action.CANCEL_NEW, "new", READY)
    assert slot.take() is warmed


def test_success_of_tracked_attempt_stores_then_take_is_single_use() -> None:
    slot, handle, _ = slot_in(FLYING)
    conn = Conn()
    assert slot.finished(handle, conn).action is Action.STORE
    assert slot.state is READY
    assert slot.pending() is None
    assert slot.take() is conn
    assert slot.state is IDLE
    assert slot.take() is None


def test_failure_of_tracked_attempt_goes_idle() -> None:
    slot, handle, _ = slot_in(FLYING)
    out = slot.finished(handle, None)
    assert (out.action, slot.state) == (Action.NONE, IDLE)
    assert slot.take() is None


@pytest.mark.parametrize("state", [IDLE, FLYING, READY])
def test_untracked_result_is_handed_back_for_disposal(state: PreconnectState) -> None:
    slot, _, warmed = slot_in(state)
    stray = Conn()
    out = slot.finished(object(), stray)
    assert (out.action, out.warmed, slot.state) == (Action.DISCARD_RESULT, stray, state)
    if state is READY:
        assert slot.take() is warmed


def test_replaced_attempt_cannot_store() -> None:
    slot, old, _ = slot_in(FLYING)
    slot.start("new")
    stray = Conn()
    assert slot.finished(old, stray).warmed is stray
    assert slot.state is FLYING
    assert slot.finished("new", None).action is Action.NONE
    assert slot.state is IDLE


def test_result_after_clear_is_discarded() -> None:
    slot, handle, _ = slot_in(FLYING)
    slot.clear()
    late = Conn()
    out = slot.finished(handle, late)
    assert (out.action, out.warmed, slot.state) == (Action.DISCARD_RESULT, late, IDLE)


def test_take_and_pending_do_not_change_in_flight() -> None:
    slot, handle, _ = slot_in(FLYING)
    assert slot.take() is None
    assert slot.pending() is handle
    assert slot.state is FLYING


@pytest.mark.parametrize(
    ("state", "action"),
    [(IDLE, Action.NONE), (FLYING, Action.CANCEL_TRACKED), (READY, Action.CLOSE_WARMED)],
)
def test_clear_hands_out_what_was_held(state: PreconnectState, action: Action) -> None:
    slot, handle, warmed = slot_in(state)
    out = slot.clear()
    assert out.action is action
    assert (out.handle, out.warmed) == (handle, warmed)
    assert slot.state is IDLE
    assert slot.pending() is None and slot.take() is None


def test_pure_modules_import_no_io() -> None:
    modules = (
        "realtalk.protocol._preconnect",
        "realtalk.protocol._responses_wire",
        "realtalk.protocol._responses_stream",
    )
    code = (
        "import json, sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    banned = {"asyncio", "websockets", "aiohttp", "aiortc", "socket", "ssl", "selectors"}
    assert set(modules) <= loaded
    assert sorted(m for m in loaded if m.split(".")[0] in banned) == []

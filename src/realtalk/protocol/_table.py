"""The one shape every protocol state machine shares: an enum of states, an enum of
inputs, and a table ``(state, input) -> Step(next state, output)``.

h11's rule applies: everything that decides a transition lives in the table, and the
class around it only stores the values that travel with the state (ids, handles).
A :class:`StateTable` checks at import time that it is *total* (every pair of states
and inputs has a step), unless it is built with ``total=False``, in which case a
missing pair is a refused input (:class:`TransitionError`). Tests walk the tables
exhaustively, and the docs can print them (:meth:`StateTable.rows`).
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator, Mapping
from typing import Generic, NamedTuple, TypeVar

__all__ = ["Step", "StateTable", "TransitionError"]

S = TypeVar("S", bound=enum.Enum)
I = TypeVar("I", bound=enum.Enum)  # noqa: E741 - the conventional name for "input"
O = TypeVar("O")  # noqa: E741


class Step(NamedTuple, Generic[S, O]):
    """The next state, and what the caller must do about this transition."""

    state: S
    output: O


class TransitionError(KeyError):
    """An input the state does not accept (only in tables built with ``total=False``)."""


class StateTable(Mapping[tuple[S, I], Step[S, O]], Generic[S, I, O]):
    """A transition table: ``table.step(state, input)`` returns a :class:`Step`.

    It is a read-only mapping keyed by ``(state, input)``, so tests can compare it
    with an expected table and iterate it.
    """

    __slots__ = ("_steps", "inputs", "name", "states")

    def __init__(
        self,
        name: str,
        states: type[S],
        inputs: type[I],
        steps: Mapping[tuple[S, I], tuple[S, O]],
        *,
        total: bool = True,
    ) -> None:
        self.name = name
        self.states = states
        self.inputs = inputs
        self._steps: dict[tuple[S, I], Step[S, O]] = {
            key: Step(*value) for key, value in steps.items()
        }
        every = set(itertools.product(states, inputs))
        unknown = set(self._steps) - every
        if unknown:
            raise ValueError(f"{name}: steps for unknown (state, input) pairs: {unknown}")
        missing = every - set(self._steps)
        if total and missing:
            raise ValueError(f"{name}: no step for {sorted(map(_label, missing))}")

    def step(self, state: S, event: I) -> Step[S, O]:
        """The transition for ``(state, event)``.

        Raises:
            TransitionError: the table is partial and ``state`` does not accept ``event``.
        """
        try:
            return self._steps[(state, event)]
        except KeyError:
            raise TransitionError(
                f"{self.name}: {state.name} does not accept {event.name}"
            ) from None

    def rows(self) -> list[tuple[str, str, str, str]]:
        """``(state, input, next state, output)`` as text, in enum order (for docs)."""
        return [
            (state.name, event.name, step.state.name, repr(step.output))
            for (state, event), step in sorted(self._steps.items(), key=_order)
        ]

    def __getitem__(self, key: tuple[S, I]) -> Step[S, O]:
        return self._steps[key]

    def __iter__(self) -> Iterator[tuple[S, I]]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"<StateTable {self.name}: {len(self._steps)} steps>"


def _label(key: tuple[enum.Enum, enum.Enum]) -> str:
    return f"{key[0].name}+{key[1].name}"


def _order(item: tuple[tuple[enum.Enum, enum.Enum], object]) -> tuple[int, int]:
    (state, event), _ = item
    return list(type(state)).index(state), list(type(event)).index(event)

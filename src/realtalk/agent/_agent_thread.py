"""The built-in agent's thread: its items, kept valid for the next request, and steering.

The Responses API refuses a request whose ``function_call`` has no
``function_call_output``. Whatever cut a call short (an interrupt, a failed turn, a
session that ended mid-call) gives it an output saying so (:data:`ABORTED_OUTPUT`,
:data:`FAILED_OUTPUT`, :data:`STOPPED_OUTPUT`), so the thread stays valid.

Steering: texts that arrive while a turn runs wait here and join the thread as user
messages right before the next request. At most ``max_pending`` wait; beyond that a text
is merged into the last waiting one, so nothing is lost and the queue stays bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final

from realtalk.protocol.responses import Item, as_function_call, function_call_output, user_message

__all__ = ["ABORTED_OUTPUT", "FAILED_OUTPUT", "STOPPED_OUTPUT", "AgentThread"]

ABORTED_OUTPUT: Final = "aborted: the user interrupted the task before this tool call finished"
"""The ``function_call_output`` recorded for a call an interrupt cut short."""

FAILED_OUTPUT: Final = "aborted: the task failed before this tool call finished"
"""The ``function_call_output`` recorded for a call left open by a failed turn."""

STOPPED_OUTPUT: Final = "aborted: the session ended before this tool call finished"
"""The ``function_call_output`` given, at start, to a call of ``history`` that has none."""


class AgentThread:
    """The items of one agent's life, and the steering texts waiting to join them."""

    def __init__(self, history: Sequence[Item], *, max_pending: int) -> None:
        self._items: list[Item] = list(history)
        self._steers: deque[str] = deque()
        self._max_pending = max_pending
        self.answer_open_calls(STOPPED_OUTPUT)  # an earlier session may have stopped mid-call

    @property
    def items(self) -> list[Item]:
        """A copy of the items."""
        return list(self._items)

    @property
    def steering(self) -> bool:
        """True while steering texts wait for the next request."""
        return bool(self._steers)

    def append(self, item: Item) -> None:
        self._items.append(item)

    def add_user_text(self, text: str) -> None:
        self._items.append(user_message(text))

    def steer(self, text: str) -> None:
        """Keep ``text`` for the next request (merged into the last one when full)."""
        if len(self._steers) >= self._max_pending:
            self._steers[-1] = f"{self._steers[-1]}\n\n{text}"
        else:
            self._steers.append(text)

    def take_steers(self) -> None:
        """The waiting steering texts join the thread, in order."""
        while self._steers:
            self._items.append(user_message(self._steers.popleft()))

    def drop_steers(self) -> None:
        self._steers.clear()

    def answer_open_calls(self, output: str) -> None:
        """Give every function call without an output ``output``."""
        answered = {
            item.get("call_id")
            for item in self._items
            if item.get("type") == "function_call_output"
        }
        for item in list(self._items):
            call = as_function_call(item)
            if call is not None and call.call_id not in answered:
                self._items.append(function_call_output(call.call_id, output))

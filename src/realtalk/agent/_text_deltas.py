"""One request of the built-in agent: its output items, and the text deltas passed on.

:func:`stream_response` runs one request and returns its output items, passing text
pieces on as :class:`AssistantDelta` events as they stream. Which pieces, is pure
bookkeeping (:class:`TextDeltaFilter`, no I/O), fed with the text deltas in order:

* Only the first output item that streams text is passed on: the deltas a consumer
  sees before the next ``AssistantMessage`` must belong to that one message. Later
  messages of the same response arrive whole.
* A retried request (``StreamRetry``) starts its text again. What an earlier attempt
  already passed on is not repeated: the new attempt's text is compared with it and
  only the part beyond it goes out. If the new attempt says something else, nothing
  more goes out for this request (the final ``AssistantMessage`` is authoritative).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from realtalk._errors import TransportClosedError
from realtalk.agent._interface import AgentEvent, AssistantDelta
from realtalk.agent._model_session import ModelClientSession, Prompt, StreamRetry
from realtalk.protocol.responses import (
    ERR_STREAM_CLOSED,
    Item,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
)

__all__ = ["TextDeltaFilter", "stream_response"]


async def stream_response(
    session: ModelClientSession, prompt: Prompt, emit: Callable[[AgentEvent], Awaitable[None]]
) -> list[Item]:
    """Run one request, emitting its text as deltas; return its output items.

    A retried request (``StreamRetry``) starts its items again; a stream that ends
    before ``response.completed`` is a :class:`TransportClosedError`.
    """
    items: list[Item] = []
    deltas = TextDeltaFilter()
    async with contextlib.aclosing(session.stream(prompt)) as events:
        async for event in events:
            if isinstance(event, OutputTextDelta):
                piece = deltas.feed(event.output_index, event.delta)
                if piece:
                    await emit(AssistantDelta(piece))
            elif isinstance(event, OutputItemDone):
                items.append(event.item)
            elif isinstance(event, StreamRetry):
                items.clear()
                deltas.retry()
            elif isinstance(event, ResponseCompleted):
                return items
    raise TransportClosedError(ERR_STREAM_CLOSED)


class TextDeltaFilter:
    """Filters the text deltas of one request (one instance per request)."""

    def __init__(self) -> None:
        self._shown: list[str] = []
        self._shown_len = 0
        self._replay = ""
        self._pos = 0
        self._index: int | None = None
        self._diverged = False

    @property
    def shown(self) -> str:
        """All text passed on so far."""
        return "".join(self._shown)

    def retry(self) -> None:
        """The request starts over: the next deltas replay the text from its start."""
        self._replay = self.shown
        self._shown = [self._replay] if self._replay else []
        self._pos = 0
        self._index = None
        self._diverged = False

    def feed(self, output_index: int, delta: str) -> str:
        """The part of ``delta`` to pass on ("" for nothing)."""
        if self._index is None:
            self._index = output_index
        if output_index != self._index or self._diverged or not delta:
            return ""
        start = self._pos
        self._pos += len(delta)
        if start < self._shown_len:
            # Replaying text an earlier attempt already passed on.
            seen = self._replay[start : self._pos]
            if not delta.startswith(seen):
                self._diverged = True
                return ""
            delta = delta[len(seen) :]
            if not delta:
                return ""
        self._shown.append(delta)
        self._shown_len += len(delta)
        return delta

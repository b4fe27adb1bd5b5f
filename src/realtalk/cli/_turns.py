"""When is a local ``talk`` turn over? The conversation core says so.

The core (``realtalk.protocol.ConversationCore``) emits ``TurnStarted`` when the
assistant comes to owe an answer (a request, speech, a delegation, agent output still
to be spoken) and ``TurnDone`` when nothing is owed any more, for v1 and v2 alike.
:class:`TurnTracker` turns those into an ``idle`` event the CLI waits on, and keeps
the conversation's end and errors.
"""

from __future__ import annotations

import asyncio

from realtalk.conversation import Closed, ConversationEvent, Realtime
from realtalk.protocol import ErrorEvent, TurnDone, TurnStarted

__all__ = ["TurnTracker"]


class TurnTracker:
    """Follows the conversation's events: turns, errors and the end."""

    def __init__(self) -> None:
        self.idle = asyncio.Event()
        self.closed: Closed | None = None
        self.ended = asyncio.Event()  # set once the conversation is Closed
        self.errors: list[str] = []
        self.errored = asyncio.Event()
        self.failure: str | None = None  # the run could not handle an event (see fail())

    def expect_turn(self) -> None:
        """The person just said something: not idle until the core says the turn is done."""
        if self.closed is None and self.failure is None:
            self.idle.clear()

    def fail(self, message: str) -> None:
        """The run can no longer follow the conversation: end every wait with ``message``."""
        self.failure = message
        self.errors.append(message)
        for event in (self.errored, self.ended, self.idle):
            event.set()

    def observe(self, event: ConversationEvent) -> None:
        if isinstance(event, Closed):
            self.closed = event
            self.ended.set()
            self.idle.set()
        elif isinstance(event, Realtime):
            payload = event.payload
            if isinstance(payload, TurnDone):
                self.idle.set()
            elif isinstance(payload, TurnStarted):
                self.idle.clear()
            elif isinstance(payload, ErrorEvent):
                self.errors.append(payload.message)
                self.errored.set()

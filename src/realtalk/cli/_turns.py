"""When is a local ``talk`` turn over? :class:`TurnTracker` follows the conversation's events."""

from __future__ import annotations

import asyncio

from realtalk.conversation import AgentActivity, Closed, ConversationEvent, Realtime
from realtalk.protocol import ErrorEvent, ResponseCancelled, ResponseCreated, ResponseDone

__all__ = ["TurnTracker"]


class TurnTracker:
    """Decides when the conversation is idle again after the person said something.

    Idle = a response finished since the input, no response is active, the agent
    is not working, and if the agent produced output, its spoken result is done.
    """

    def __init__(self) -> None:
        self.idle = asyncio.Event()
        self.closed: Closed | None = None
        self.ended = asyncio.Event()  # set once the conversation is Closed
        self.errors: list[str] = []
        self.errored = asyncio.Event()
        self.failure: str | None = None  # the run could not handle an event (see fail())
        self._response_active = False
        self._saw_done = False
        self._agent_busy = False
        self._await_speech = False
        self._agent_messages = 0

    def expect_turn(self) -> None:
        self.idle.clear()
        self._saw_done = False

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
            return
        if isinstance(event, AgentActivity):
            if event.kind == "submitted":
                self._agent_busy = True
                self._agent_messages = 0
            elif event.kind == "message":
                self._agent_messages += 1
            else:
                self._agent_busy = False
                self._await_speech = self._agent_messages > 0 or event.kind == "failed"
        elif isinstance(event, Realtime):
            payload = event.payload
            if isinstance(payload, ResponseCreated):
                self._response_active = True
            elif isinstance(payload, ResponseDone | ResponseCancelled):
                self._response_active = False
                self._saw_done = True
                if not self._agent_busy:
                    self._await_speech = False
            elif isinstance(payload, ErrorEvent):
                self.errors.append(payload.message)
                self.errored.set()
        if (
            self._saw_done
            and not self._response_active
            and not self._agent_busy
            and not self._await_speech
        ):
            self.idle.set()

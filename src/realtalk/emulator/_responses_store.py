"""Stored responses and the answer to one request (pure: no I/O).

:class:`ResponseStore` turns a validated request into a response: it finds the
``previous_response_id`` context, asks the scripted model for the output, builds the
``Response`` object and its streamed events, and keeps the result when the request
says ``store`` (the API default), the latest :data:`STORE_LIMIT` of them.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from realtalk.emulator._responses_model import conversation, reply, stream_events
from realtalk.emulator._responses_wire import (
    ParsedRequest,
    RequestError,
    response_object,
    usage,
)

__all__ = ["STORE_LIMIT", "ResponseStore", "Stored", "Turn"]

JsonDict = dict[str, Any]
STORE_LIMIT: Final = 10_000


@dataclass
class Stored:
    """One answered response."""

    context: list[JsonDict]
    """Input and output of this and every earlier turn of its chain."""
    response: JsonDict
    events: list[JsonDict]
    """Its streamed events, without ``sequence_number``."""


@dataclass
class Turn:
    """The answer to one request."""

    response_id: str
    completed: JsonDict
    events: list[JsonDict]
    stored: Stored


class ResponseStore:
    """Answers requests and keeps stored responses (oldest dropped beyond the limit)."""

    def __init__(self, *, limit: int = STORE_LIMIT) -> None:
        self._limit = limit
        self._ids = itertools.count(1)
        self._stored: OrderedDict[str, Stored] = OrderedDict()

    def get(self, response_id: str) -> Stored | None:
        return self._stored.get(response_id)

    def delete(self, response_id: str) -> bool:
        return self._stored.pop(response_id, None) is not None

    def _previous(self, request: ParsedRequest, socket_last: Stored | None) -> list[JsonDict]:
        wanted = request.previous_response_id
        if wanted is None:
            return []
        if socket_last is not None and socket_last.response["id"] == wanted:
            return socket_last.context
        stored = self._stored.get(wanted)
        if stored is None:
            raise RequestError(
                f"Previous response with id '{wanted}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return stored.context

    def answer(self, request: ParsedRequest, socket_last: Stored | None = None) -> Turn:
        """Answer ``request``; ``socket_last`` is a WebSocket's own latest response.

        Raises:
            RequestError: an unknown ``previous_response_id`` or a tool output that
                answers no call.
        """
        context = conversation(self._previous(request, socket_last), request.input)
        serial = str(next(self._ids))
        response_id = f"resp-{serial}"
        created_at = int(time.time())
        output = reply(request, context, serial=serial)
        in_progress = response_object(
            request, response_id=response_id, created_at=created_at, status="in_progress", output=[]
        )
        completed = response_object(
            request,
            response_id=response_id,
            created_at=created_at,
            status="completed",
            output=output,
            usage=usage(context, output),
        )
        events = stream_events(in_progress, completed)
        stored = Stored(context + output, completed, events)
        if request.store:
            self._stored[response_id] = stored
            while len(self._stored) > self._limit:
                self._stored.popitem(last=False)
        return Turn(response_id, completed, events, stored)

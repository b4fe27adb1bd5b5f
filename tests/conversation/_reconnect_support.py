"""What the reconnect tests share: factories, timeouts, and predicates over the
recorded conversation events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from realtalk.conversation import ConversationEvent, ConversationManager, Realtime
from realtalk.emulator import Emulator, RealtimeSessionRecord
from realtalk.protocol import ErrorEvent, OutputTranscriptDone, TurnDone

from .conftest import Recorder

Factory = Callable[..., tuple[ConversationManager, Recorder]]
EmulatorFactory = Callable[..., Awaitable[Emulator]]
TIMEOUT = 10.0
FAST_RETRIES: dict[str, Any] = {"reconnect_max_retries": 3, "reconnect_retry_base_ms": 10}


def _answer(text: str) -> Callable[[ConversationEvent], bool]:
    def match(event: ConversationEvent) -> bool:
        payload = event.payload if isinstance(event, Realtime) else None
        return isinstance(payload, OutputTranscriptDone) and text in payload.text

    return match


def _is(kind: type[Any]) -> Callable[[ConversationEvent], bool]:
    return lambda e: isinstance(e, kind)


def _after(rec: Recorder, kind: type[Any]) -> list[ConversationEvent]:
    """The events after the last one of ``kind``."""
    index = max(i for i, e in enumerate(rec.events) if isinstance(e, kind))
    return rec.events[index + 1 :]


def _errors(rec: Recorder) -> list[str]:
    return [e.payload.message for e in rec.of_type(Realtime) if isinstance(e.payload, ErrorEvent)]


def _items(record: RealtimeSessionRecord) -> list[tuple[str | None, str]]:
    """(event_id, text) of each message item the session received."""
    return [
        (m.get("event_id"), m["item"]["content"][0]["text"])
        for m in record.received
        if m["type"] == "conversation.item.create" and m["item"]["type"] == "message"
    ]


async def _ask(mgr: ConversationManager, text: str) -> None:
    await mgr.text_in(text)
    await mgr.request_response()


def _turn_done(event: ConversationEvent) -> bool:
    return isinstance(event, Realtime) and isinstance(event.payload, TurnDone)

"""What the WebSocket conversation tests share: the manager factory type and
predicates over recorded events and the emulator's sessions.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from realtalk.conversation import Closed, ConversationEvent, ConversationManager, Realtime, Started
from realtalk.emulator import Emulator
from realtalk.protocol import ErrorEvent

from .conftest import Recorder

Factory = Callable[..., tuple[ConversationManager, Recorder]]


def _is_started(e: ConversationEvent) -> bool:
    return isinstance(e, Started)


def _is_closed(e: ConversationEvent) -> bool:
    return isinstance(e, Closed)


def _errors(rec: Recorder) -> list[str]:
    return [e.payload.message for e in rec.of_type(Realtime) if isinstance(e.payload, ErrorEvent)]


def _silence_b64(ms: int = 20) -> str:
    return base64.b64encode(bytes(24 * 2 * ms)).decode()


async def _session_update(emulator: Emulator, index: int = 0) -> dict[str, Any]:
    record = emulator.sessions[index]
    return await record.wait_for_message(lambda m: m.get("type") == "session.update")

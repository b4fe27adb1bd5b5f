"""Pure helpers of :mod:`._talk_remote`: flags, turn tracking, rendering, logging.

No I/O: they map flags to params and notifications to state and events.

When is a turn over? The app-server's notification table has no
``response.done``, so :class:`RemoteTracker` calls the conversation idle when the
assistant's transcript is done (or the response was cancelled, or the model chose
``remain_silent``), no agent work is pending (a ``handoff_request`` item or a
running turn) and, if the agent produced output, its spoken result is done too.
The caller then waits for a short quiet period before believing it: a model may
speak and then call the agent in the same response, and audio may trail the
transcript.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from realtalk._errors import ConfigError
from realtalk.app_server import (
    AgentMessageItem,
    Notification,
    NotificationMethod,
    RequestMethod,
    UserMessageItem,
)
from realtalk.conversation import AgentActivity, ConversationEvent, Realtime, Reconnected, Started
from realtalk.protocol import (
    ErrorEvent,
    HandoffRequested,
    InputTranscriptDone,
    Mode,
    OutputModality,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    Version,
)

__all__ = [
    "CONNECTION_LOST",
    "RemoteTracker",
    "check_remote_flags",
    "conversation_event",
    "elide_rpc_audio",
    "parse_app_server_target",
    "realtime_options",
]

CONNECTION_LOST: Final = "connection lost"
"""The close reason when the app-server connection itself dropped."""

_AUDIO_METHODS: Final = frozenset(
    {RequestMethod.REALTIME_APPEND_AUDIO, NotificationMethod.REALTIME_OUTPUT_AUDIO_DELTA}
)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def parse_app_server_target(value: str) -> str | None:
    """``stdio`` -> None; ``ws://HOST:PORT`` (or ``wss://``) -> the URL.

    Raises:
        ConfigError: Any other form.
    """
    if value in ("stdio", "stdio://"):
        return None
    problem = f"--app-server {value!r}: expected ws://HOST:PORT (a running app-server) or stdio"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(problem) from exc
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(problem)
    return value


def check_remote_flags(args: argparse.Namespace, target: str | None) -> None:
    if args.agent_cmd:
        raise ConfigError(
            "--agent-cmd does not apply with --app-server: the app-server runs its agent"
        )
    if args.transport == "webrtc":
        raise ConfigError(
            "--transport webrtc does not apply with --app-server: talk streams audio over the "
            "app-server connection (WebRTC through an app-server is a browser's job)"
        )
    if target is not None:
        for flag, value in (
            ("--config", args.config),
            ("--base-url", args.base_url),
            ("--ws-base-url", args.ws_base_url),
        ):
            if value:
                raise ConfigError(
                    f"{flag} does not apply with --app-server {target}: configure that app-server"
                )


def realtime_options(args: argparse.Namespace) -> dict[str, Any]:
    """``thread/realtime/start`` params from the flags (unset: the app-server decides)."""
    return {
        "output_modality": OutputModality(args.output_modality or "audio"),
        "voice": args.voice,
        "version": Version(args.version) if args.version else None,
        "mode": Mode(args.mode) if args.mode else None,
        "model": args.model,
    }


def elide_rpc_audio(data: bytes) -> bytes:
    """Replace the base64 audio of ``appendAudio``/``outputAudio/delta`` by its length."""
    if b'"audio"' not in data:
        return data
    try:
        message = _decoder.decode(data)
    except msgspec.DecodeError:
        return data
    if not isinstance(message, dict) or message.get("method") not in _AUDIO_METHODS:
        return data
    params = message.get("params")
    audio = params.get("audio") if isinstance(params, dict) else None
    if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
        return data
    audio["data"] = f"<{len(audio['data'])} bytes base64>"
    return _encoder.encode(message)


class RemoteTracker:
    """Conversation state of one remote thread, driven by its notifications."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.idle = asyncio.Event()
        self.activity = asyncio.Event()
        """Set by every notification of the thread (the caller clears it)."""
        self.errored = asyncio.Event()
        """An error notification arrived, or the conversation closed."""
        self.closed: str | None = None
        """The close reason once ``thread/realtime/closed`` arrived."""
        self.ended = asyncio.Event()
        """Set once ``thread/realtime/closed`` arrived."""
        self.errors: list[str] = []
        self._answered = False
        self._agent_busy = False
        self._await_speech = False
        self._agent_messages = 0

    def expect_turn(self) -> None:
        self.idle.clear()
        self._answered = False

    def connection_lost(self, message: str) -> None:
        """The app-server connection dropped: the conversation is over, with an error."""
        if self.closed is not None:
            return
        self.closed = CONNECTION_LOST
        self.errors.append(message)
        self.ended.set()
        self.errored.set()
        self.idle.set()

    def _response_over(self) -> None:
        self._answered = True
        if not self._agent_busy:
            self._await_speech = False

    def _agent_starts(self) -> None:
        if not self._agent_busy:
            self._agent_busy = True
            self._agent_messages = 0

    def observe(self, method: str, params: Any) -> None:
        self.activity.set()
        if method == NotificationMethod.REALTIME_STARTED:
            self.started.set()
        elif method == NotificationMethod.REALTIME_CLOSED:
            self.closed = params.reason or "closed"
            self.ended.set()
            self.errored.set()
            self.idle.set()
            return
        elif method == NotificationMethod.REALTIME_ERROR:
            self.errors.append(params.message)
            self.errored.set()
        elif method == NotificationMethod.REALTIME_TRANSCRIPT_DONE:
            if params.role == "assistant":
                self._response_over()
        elif method == NotificationMethod.REALTIME_ITEM_ADDED:
            item = params.item
            kind = item.get("type")
            if kind == "handoff_request":
                self._agent_starts()
            elif kind == "response.cancelled" or (
                kind == "function_call" and item.get("name") == "remain_silent"
            ):
                self._response_over()
        elif method == NotificationMethod.TURN_STARTED:
            self._agent_starts()
        elif method == NotificationMethod.ITEM_COMPLETED and isinstance(
            params.item, AgentMessageItem
        ):
            self._agent_messages += 1
        elif method == NotificationMethod.TURN_COMPLETED:
            self._agent_busy = False
            # A failed or interrupted task is spoken back too.
            self._await_speech = self._agent_messages > 0 or params.turn.status != "completed"
        # Not sticky: a handoff after an answer makes the conversation busy again.
        if self._answered and not self._agent_busy and not self._await_speech:
            self.idle.set()
        else:
            self.idle.clear()


def _realtime(method: str, params: Any) -> ConversationEvent | None:
    if method == NotificationMethod.REALTIME_STARTED:
        return Started(params.realtime_session_id, Version(params.version))
    if method == NotificationMethod.REALTIME_TRANSCRIPT_DELTA:
        return Realtime(OutputTranscriptDelta(params.delta)) if params.role == "assistant" else None
    if method == NotificationMethod.REALTIME_TRANSCRIPT_DONE:
        if params.role == "assistant":
            return Realtime(OutputTranscriptDone(params.text))
        return Realtime(InputTranscriptDone(params.text))
    if (
        method == NotificationMethod.REALTIME_ITEM_ADDED
        and params.item.get("type") == "handoff_request"
    ):
        item = params.item
        return Realtime(
            HandoffRequested(
                handoff_id=str(item.get("handoff_id", "")),
                item_id=str(item.get("item_id", "")),
                input_transcript=str(item.get("input_transcript", "")),
            )
        )
    if method == NotificationMethod.REALTIME_ERROR:
        return Realtime(ErrorEvent(params.message))
    if method == NotificationMethod.REALTIME_RECONNECTED:
        return Reconnected(
            cause=params.cause,
            attempts=params.attempts,
            restored_items=params.restored_items,
            folded_items=params.folded_items,
            elapsed_ms=params.elapsed_ms,
        )
    return None


def conversation_event(notification: Notification) -> ConversationEvent | None:
    """The local conversation event a notification stands for (None: nothing to show).

    ``thread/realtime/closed`` is left to the caller: its reason is free text.
    """
    method, params = notification
    if method.startswith("thread/realtime/"):
        return _realtime(method, params)
    if method == NotificationMethod.ITEM_COMPLETED:
        item = params.item
        if isinstance(item, UserMessageItem):
            return AgentActivity("submitted", "\n".join(part.text for part in item.content))
        if isinstance(item, AgentMessageItem):
            return AgentActivity("message", item.text)
    elif method == NotificationMethod.TURN_COMPLETED:
        turn = params.turn
        if turn.status == "completed":
            return AgentActivity("complete")
        message = turn.error.message if turn.error is not None else turn.status
        return AgentActivity("failed", message)
    return None

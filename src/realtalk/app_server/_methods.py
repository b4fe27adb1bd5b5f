"""The app-server's method names, in one table.

Every wire name is spelled once, here: :class:`RequestMethod` and
:class:`NotificationMethod` name them, and :data:`METHODS` / :data:`NOTIFICATIONS`
say what each carries and how it is served. The connection checks params and gates
the experimental methods with these tables, the dispatcher binds one handler per
request method, the client sends and decodes with them, and the JSON Schema is
generated from them.

The experimental gate (reference 3.5): a method marked ``experimental`` needs the
connection's ``experimentalApi`` capability, and an experimental notification is
never sent to a connection without it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple

import msgspec

from realtalk.app_server._api import (
    AgentMessageDeltaNotification,
    CommandExecutionOutputDeltaNotification,
    CommandExecutionRequestApprovalParams,
    EmptyParams,
    EmptyResult,
    ErrorNotification,
    FileChangeRequestApprovalParams,
    InitializeParams,
    InitializeResult,
    ItemCompletedNotification,
    ItemStartedNotification,
    ServerRequestResolvedNotification,
    ThreadArchivedNotification,
    ThreadArchiveParams,
    ThreadListParams,
    ThreadListResult,
    ThreadRealtimeAppendAudioParams,
    ThreadRealtimeAppendTextParams,
    ThreadRealtimeCancelHandoffParams,
    ThreadRealtimeCancelHandoffResult,
    ThreadRealtimeClosedNotification,
    ThreadRealtimeErrorNotification,
    ThreadRealtimeItemAddedNotification,
    ThreadRealtimeListVoicesResult,
    ThreadRealtimeOutputAudioDeltaNotification,
    ThreadRealtimeReconnectedNotification,
    ThreadRealtimeRequestResponseParams,
    ThreadRealtimeSdpNotification,
    ThreadRealtimeStartedNotification,
    ThreadRealtimeStartParams,
    ThreadRealtimeStopParams,
    ThreadRealtimeTranscriptDeltaNotification,
    ThreadRealtimeTranscriptDoneNotification,
    ThreadResumeParams,
    ThreadResumeResult,
    ThreadStartedNotification,
    ThreadStartParams,
    ThreadStartResult,
    ThreadUnarchivedNotification,
    ThreadUnarchiveParams,
    ThreadUnarchiveResult,
    TurnCompletedNotification,
    TurnInterruptParams,
    TurnStartedNotification,
    TurnStartParams,
    TurnStartResult,
    TurnSteerParams,
    TurnSteerResult,
)

__all__ = [
    "CLIENT_NOTIFICATIONS",
    "METHODS",
    "NOTIFICATIONS",
    "MethodSpec",
    "NotificationMethod",
    "NotificationSpec",
    "RequestMethod",
    "SERVER_REQUESTS",
    "ServerRequestMethod",
    "notification_method",
    "request_method",
]


class RequestMethod(StrEnum):
    """Client-to-server requests."""

    INITIALIZE = "initialize"
    THREAD_START = "thread/start"
    THREAD_RESUME = "thread/resume"
    THREAD_LIST = "thread/list"
    THREAD_ARCHIVE = "thread/archive"
    THREAD_UNARCHIVE = "thread/unarchive"
    TURN_START = "turn/start"
    TURN_STEER = "turn/steer"
    TURN_INTERRUPT = "turn/interrupt"
    REALTIME_START = "thread/realtime/start"
    REALTIME_APPEND_AUDIO = "thread/realtime/appendAudio"
    REALTIME_APPEND_TEXT = "thread/realtime/appendText"
    REALTIME_STOP = "thread/realtime/stop"
    REALTIME_REQUEST_RESPONSE = "thread/realtime/requestResponse"
    REALTIME_CANCEL_HANDOFF = "thread/realtime/cancelHandoff"
    """realtalk's: cancel the running delegation (no turn id needed; the model is told
    at once, the agent's task stops). ``turn/interrupt`` on the delegated turn ends
    the same way, once the agent has stopped."""
    REALTIME_LIST_VOICES = "thread/realtime/listVoices"


class NotificationMethod(StrEnum):
    """Notifications: ``initialized`` from the client, every other one from the server."""

    INITIALIZED = "initialized"
    THREAD_STARTED = "thread/started"
    THREAD_ARCHIVED = "thread/archived"
    THREAD_UNARCHIVED = "thread/unarchived"
    TURN_STARTED = "turn/started"
    TURN_COMPLETED = "turn/completed"
    ITEM_STARTED = "item/started"
    ITEM_COMPLETED = "item/completed"
    AGENT_MESSAGE_DELTA = "item/agentMessage/delta"
    COMMAND_OUTPUT_DELTA = "item/commandExecution/outputDelta"
    ERROR = "error"
    REALTIME_STARTED = "thread/realtime/started"
    REALTIME_SDP = "thread/realtime/sdp"
    REALTIME_ITEM_ADDED = "thread/realtime/itemAdded"
    REALTIME_TRANSCRIPT_DELTA = "thread/realtime/transcript/delta"
    REALTIME_TRANSCRIPT_DONE = "thread/realtime/transcript/done"
    REALTIME_OUTPUT_AUDIO_DELTA = "thread/realtime/outputAudio/delta"
    REALTIME_ERROR = "thread/realtime/error"
    REALTIME_CLOSED = "thread/realtime/closed"
    REALTIME_RECONNECTED = "thread/realtime/reconnected"
    SERVER_REQUEST_RESOLVED = "serverRequest/resolved"


class ServerRequestMethod(StrEnum):
    """Requests the server sends its client (approval questions)."""

    COMMAND_APPROVAL = "item/commandExecution/requestApproval"
    FILE_CHANGE_APPROVAL = "item/fileChange/requestApproval"


class MethodSpec(NamedTuple):
    params: type[msgspec.Struct]
    result: type[msgspec.Struct]
    thread_scoped: bool = False
    """The request acts on a loaded thread (``threadId``); its requests run in arrival order.

    ``thread/resume``, ``thread/archive`` and ``thread/unarchive`` name a *stored*
    thread, which need not be loaded: they are not thread scoped."""
    experimental: bool = False
    """Needs the connection's ``experimentalApi`` capability."""


class NotificationSpec(NamedTuple):
    params: type[msgspec.Struct]
    experimental: bool = False
    """Sent only to connections with the ``experimentalApi`` capability."""


_M = RequestMethod
_N = NotificationMethod

METHODS: Final[dict[RequestMethod, MethodSpec]] = {
    _M.INITIALIZE: MethodSpec(InitializeParams, InitializeResult),
    _M.THREAD_START: MethodSpec(ThreadStartParams, ThreadStartResult),
    _M.THREAD_RESUME: MethodSpec(ThreadResumeParams, ThreadResumeResult),
    _M.THREAD_LIST: MethodSpec(ThreadListParams, ThreadListResult),
    _M.THREAD_ARCHIVE: MethodSpec(ThreadArchiveParams, EmptyResult),
    _M.THREAD_UNARCHIVE: MethodSpec(ThreadUnarchiveParams, ThreadUnarchiveResult),
    _M.TURN_START: MethodSpec(TurnStartParams, TurnStartResult, thread_scoped=True),
    _M.TURN_STEER: MethodSpec(TurnSteerParams, TurnSteerResult, thread_scoped=True),
    _M.TURN_INTERRUPT: MethodSpec(TurnInterruptParams, EmptyResult, thread_scoped=True),
    _M.REALTIME_START: MethodSpec(
        ThreadRealtimeStartParams, EmptyResult, thread_scoped=True, experimental=True
    ),
    _M.REALTIME_APPEND_AUDIO: MethodSpec(
        ThreadRealtimeAppendAudioParams, EmptyResult, thread_scoped=True, experimental=True
    ),
    _M.REALTIME_APPEND_TEXT: MethodSpec(
        ThreadRealtimeAppendTextParams, EmptyResult, thread_scoped=True, experimental=True
    ),
    _M.REALTIME_STOP: MethodSpec(
        ThreadRealtimeStopParams, EmptyResult, thread_scoped=True, experimental=True
    ),
    _M.REALTIME_REQUEST_RESPONSE: MethodSpec(
        ThreadRealtimeRequestResponseParams, EmptyResult, thread_scoped=True, experimental=True
    ),
    _M.REALTIME_CANCEL_HANDOFF: MethodSpec(
        ThreadRealtimeCancelHandoffParams,
        ThreadRealtimeCancelHandoffResult,
        thread_scoped=True,
        experimental=True,
    ),
    _M.REALTIME_LIST_VOICES: MethodSpec(
        EmptyParams, ThreadRealtimeListVoicesResult, experimental=True
    ),
}
"""Client-to-server requests: method -> (params, result, thread scoped, experimental)."""

CLIENT_NOTIFICATIONS: Final = frozenset({_N.INITIALIZED})
"""Notifications a client may send."""

NOTIFICATIONS: Final[dict[NotificationMethod, NotificationSpec]] = {
    _N.THREAD_STARTED: NotificationSpec(ThreadStartedNotification),
    _N.THREAD_ARCHIVED: NotificationSpec(ThreadArchivedNotification),
    _N.THREAD_UNARCHIVED: NotificationSpec(ThreadUnarchivedNotification),
    _N.TURN_STARTED: NotificationSpec(TurnStartedNotification),
    _N.TURN_COMPLETED: NotificationSpec(TurnCompletedNotification),
    _N.ITEM_STARTED: NotificationSpec(ItemStartedNotification),
    _N.ITEM_COMPLETED: NotificationSpec(ItemCompletedNotification),
    _N.AGENT_MESSAGE_DELTA: NotificationSpec(AgentMessageDeltaNotification),
    _N.COMMAND_OUTPUT_DELTA: NotificationSpec(CommandExecutionOutputDeltaNotification),
    _N.ERROR: NotificationSpec(ErrorNotification),
    _N.REALTIME_STARTED: NotificationSpec(ThreadRealtimeStartedNotification, experimental=True),
    _N.REALTIME_SDP: NotificationSpec(ThreadRealtimeSdpNotification, experimental=True),
    _N.REALTIME_ITEM_ADDED: NotificationSpec(
        ThreadRealtimeItemAddedNotification, experimental=True
    ),
    _N.REALTIME_TRANSCRIPT_DELTA: NotificationSpec(
        ThreadRealtimeTranscriptDeltaNotification, experimental=True
    ),
    _N.REALTIME_TRANSCRIPT_DONE: NotificationSpec(
        ThreadRealtimeTranscriptDoneNotification, experimental=True
    ),
    _N.REALTIME_OUTPUT_AUDIO_DELTA: NotificationSpec(
        ThreadRealtimeOutputAudioDeltaNotification, experimental=True
    ),
    _N.REALTIME_ERROR: NotificationSpec(ThreadRealtimeErrorNotification, experimental=True),
    _N.REALTIME_CLOSED: NotificationSpec(ThreadRealtimeClosedNotification, experimental=True),
    _N.REALTIME_RECONNECTED: NotificationSpec(
        ThreadRealtimeReconnectedNotification, experimental=True
    ),
    _N.SERVER_REQUEST_RESOLVED: NotificationSpec(ServerRequestResolvedNotification),
}
"""Server-to-client notifications: method -> (params, experimental)."""

SERVER_REQUESTS: Final[dict[ServerRequestMethod, type[msgspec.Struct]]] = {
    ServerRequestMethod.COMMAND_APPROVAL: CommandExecutionRequestApprovalParams,
    ServerRequestMethod.FILE_CHANGE_APPROVAL: FileChangeRequestApprovalParams,
}
"""Server-to-client requests: method -> params. The client answers
``{"decision": "accept" | "acceptForSession" | "decline" | "cancel"}``."""


def request_method(name: str) -> RequestMethod | None:
    """The request method named ``name`` on the wire, or None for an unknown one."""
    try:
        return RequestMethod(name)
    except ValueError:
        return None


def notification_method(name: str) -> NotificationMethod | None:
    """The notification named ``name`` on the wire, or None for an unknown one."""
    try:
        return NotificationMethod(name)
    except ValueError:
        return None

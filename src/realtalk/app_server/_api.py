"""Typed app-server API: params, results and notifications (camelCase on the wire).

Every request and notification of the protocol is a ``msgspec`` struct here; the
method table (``_methods.py``) maps wire method names to them. The dispatcher
decodes with these types, the client decodes with them, and
``generate-json-schema`` derives the JSON Schema from them, so the three cannot
drift apart.

Unknown fields in params are ignored (forward compatibility). The tool items and
approval requests are in ``_api_tools.py``, the experimental realtime methods in
``_api_realtime.py``; this module names them all.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from realtalk.app_server._api_base import Camel
from realtalk.app_server._api_realtime import (
    RealtimeAudioChunk,
    RealtimeTransport,
    RealtimeTransportWebrtc,
    RealtimeTransportWebsocket,
    RealtimeVoices,
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
)
from realtalk.app_server._api_tools import (
    CommandExecutionItem,
    CommandExecutionOutputDeltaNotification,
    CommandExecutionRequestApprovalParams,
    FileChangeItem,
    FileChangeRequestApprovalParams,
    FileUpdateChange,
    ServerRequestResolvedNotification,
)

__all__ = [
    "AgentMessageDeltaNotification",
    "AgentMessageItem",
    "ApprovalPolicyName",
    "ClientInfo",
    "CommandExecutionItem",
    "CommandExecutionOutputDeltaNotification",
    "CommandExecutionRequestApprovalParams",
    "EmptyParams",
    "EmptyResult",
    "ErrorNotification",
    "FileChangeItem",
    "FileChangeRequestApprovalParams",
    "FileUpdateChange",
    "InitializeCapabilities",
    "InitializeParams",
    "InitializeResult",
    "ItemCompletedNotification",
    "ItemStartedNotification",
    "RealtimeAudioChunk",
    "RealtimeTransport",
    "RealtimeTransportWebrtc",
    "RealtimeTransportWebsocket",
    "RealtimeVoices",
    "SandboxModeName",
    "ServerRequestResolvedNotification",
    "TextInput",
    "Thread",
    "ThreadArchiveParams",
    "ThreadArchivedNotification",
    "ThreadItem",
    "ThreadListParams",
    "ThreadListResult",
    "ThreadRealtimeAppendAudioParams",
    "ThreadRealtimeAppendTextParams",
    "ThreadRealtimeCancelHandoffParams",
    "ThreadRealtimeCancelHandoffResult",
    "ThreadRealtimeClosedNotification",
    "ThreadRealtimeReconnectedNotification",
    "ThreadRealtimeErrorNotification",
    "ThreadRealtimeItemAddedNotification",
    "ThreadRealtimeListVoicesResult",
    "ThreadRealtimeOutputAudioDeltaNotification",
    "ThreadRealtimeRequestResponseParams",
    "ThreadRealtimeSdpNotification",
    "ThreadRealtimeStartParams",
    "ThreadRealtimeStartedNotification",
    "ThreadRealtimeStopParams",
    "ThreadRealtimeTranscriptDeltaNotification",
    "ThreadRealtimeTranscriptDoneNotification",
    "ThreadResumeParams",
    "ThreadResumeResult",
    "ThreadSortKey",
    "ThreadStartParams",
    "ThreadStartResult",
    "ThreadStartedNotification",
    "ThreadStatus",
    "ThreadStatusActive",
    "ThreadStatusIdle",
    "ThreadStatusNotLoaded",
    "ThreadUnarchiveParams",
    "ThreadUnarchiveResult",
    "ThreadUnarchivedNotification",
    "Turn",
    "TurnCompletedNotification",
    "TurnError",
    "TurnInterruptParams",
    "TurnStartParams",
    "TurnStartResult",
    "TurnStartedNotification",
    "TurnStatus",
    "TurnSteerParams",
    "TurnSteerResult",
    "UserInput",
    "UserMessageItem",
]


class EmptyParams(Camel, frozen=True):
    """No params (``{}`` or absent)."""


class EmptyResult(Camel, frozen=True):
    """The result ``{}``."""


# -- initialize -----------------------------------------------------------------------


class ClientInfo(Camel, frozen=True):
    name: str
    title: str | None = None
    version: str | None = None


class InitializeCapabilities(Camel, frozen=True):
    experimental_api: bool = False
    opt_out_notification_methods: list[str] | None = None


class InitializeParams(Camel, frozen=True):
    client_info: ClientInfo
    capabilities: InitializeCapabilities | None = None


class InitializeResult(Camel, frozen=True):
    user_agent: str
    platform_family: str
    platform_os: str


# -- threads and turns ------------------------------------------------------------------


SandboxModeName = Literal["readOnly", "workspaceWrite", "dangerFullAccess"]
ApprovalPolicyName = Literal["never", "onRequest", "untrusted", "unlessTrusted"]
"""``unlessTrusted`` is the reference's older spelling of ``untrusted``."""


class ThreadStartParams(Camel, frozen=True):
    model: str | None = None
    cwd: str | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    ephemeral: bool | None = None
    approval_policy: ApprovalPolicyName | None = None
    sandbox: SandboxModeName | None = None


class TextInput(msgspec.Struct, frozen=True, tag_field="type", tag="text"):
    text: str


UserInput = TextInput


class UserMessageItem(Camel, frozen=True, tag_field="type", tag="userMessage"):
    id: str
    content: list[UserInput]


class AgentMessageItem(Camel, frozen=True, tag_field="type", tag="agentMessage"):
    id: str
    text: str


ThreadItem = UserMessageItem | AgentMessageItem | CommandExecutionItem | FileChangeItem

TurnStatus = Literal["inProgress", "completed", "interrupted", "failed"]


class TurnError(Camel, frozen=True):
    message: str


class Turn(Camel, frozen=True):
    id: str
    status: TurnStatus
    items: list[ThreadItem] = msgspec.field(default_factory=list)
    error: TurnError | None = None


class ThreadStatusNotLoaded(Camel, frozen=True, tag_field="type", tag="notLoaded"):
    """Stored, not loaded in this app-server."""


class ThreadStatusIdle(Camel, frozen=True, tag_field="type", tag="idle"):
    """Loaded, no turn running."""


class ThreadStatusActive(Camel, frozen=True, tag_field="type", tag="active"):
    """Loaded, a turn is running."""

    active_flags: list[str] = msgspec.field(default_factory=list)


ThreadStatus = ThreadStatusNotLoaded | ThreadStatusIdle | ThreadStatusActive


class Thread(Camel, frozen=True):
    id: str
    preview: str
    """The thread's first user message (shortened); "" until there is one."""
    created_at: int
    """Unix seconds."""
    cwd: str
    model_provider: str
    updated_at: int = 0
    """Unix seconds of the last stored change."""
    status: ThreadStatus = msgspec.field(default_factory=ThreadStatusIdle)
    ephemeral: bool = False
    """True: kept in memory only, never listed or resumable."""
    turns: list[Turn] = msgspec.field(default_factory=list)
    """Filled by ``thread/resume`` and ``thread/unarchive``; empty elsewhere."""


class ThreadStartResult(Camel, frozen=True):
    thread: Thread
    model: str
    model_provider: str
    cwd: str
    approval_policy: ApprovalPolicyName = "onRequest"
    sandbox: SandboxModeName = "workspaceWrite"


class ThreadResumeParams(Camel, frozen=True):
    """Load a stored thread; the other fields override what it was started with."""

    thread_id: str
    model: str | None = None
    cwd: str | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    approval_policy: ApprovalPolicyName | None = None
    sandbox: SandboxModeName | None = None


class ThreadResumeResult(Camel, frozen=True):
    thread: Thread
    model: str
    model_provider: str
    cwd: str
    approval_policy: ApprovalPolicyName = "onRequest"
    sandbox: SandboxModeName = "workspaceWrite"


ThreadSortKey = Literal["created_at", "updated_at"]


class ThreadListParams(Camel, frozen=True):
    cursor: str | None = None
    """Opaque, from the previous page's ``nextCursor``; absent for the first page."""
    limit: int | None = None
    """Page size, 1 to 100 (default 25; larger values are capped)."""
    sort_key: ThreadSortKey | None = None
    """``created_at`` (default) or ``updated_at``; newest first either way."""
    archived: bool | None = None
    """True: archived threads only; false or absent: the others."""
    cwd: str | None = None
    """Only threads whose workspace is exactly this path."""
    model_providers: list[str] | None = None
    """Only threads of these providers (absent or empty: all)."""
    search_term: str | None = None
    """Only threads whose preview contains this text (case-sensitive)."""


class ThreadListResult(Camel, frozen=True):
    data: list[Thread]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; null on the last page."""


class ThreadArchiveParams(Camel, frozen=True):
    thread_id: str


class ThreadUnarchiveParams(Camel, frozen=True):
    thread_id: str


class ThreadUnarchiveResult(Camel, frozen=True):
    thread: Thread


class ThreadArchivedNotification(Camel, frozen=True):
    thread_id: str


class ThreadUnarchivedNotification(Camel, frozen=True):
    thread_id: str


class TurnStartParams(Camel, frozen=True):
    thread_id: str
    input: list[UserInput]


class TurnStartResult(Camel, frozen=True):
    turn: Turn


class TurnInterruptParams(Camel, frozen=True):
    thread_id: str
    turn_id: str


class TurnSteerParams(Camel, frozen=True):
    thread_id: str
    input: list[UserInput]
    expected_turn_id: str


class TurnSteerResult(Camel, frozen=True):
    turn_id: str


class ThreadStartedNotification(Camel, frozen=True):
    thread: Thread


class TurnStartedNotification(Camel, frozen=True):
    thread_id: str
    turn: Turn


class TurnCompletedNotification(Camel, frozen=True):
    thread_id: str
    turn: Turn


class ItemStartedNotification(Camel, frozen=True):
    thread_id: str
    turn_id: str
    item: ThreadItem


class ItemCompletedNotification(Camel, frozen=True):
    thread_id: str
    turn_id: str
    item: ThreadItem


class AgentMessageDeltaNotification(Camel, frozen=True):
    thread_id: str
    turn_id: str
    item_id: str
    delta: str


class ErrorNotification(Camel, frozen=True):
    thread_id: str
    turn_id: str
    error: TurnError
    will_retry: bool = False

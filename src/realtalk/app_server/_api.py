"""Typed app-server API: params, results and notifications (camelCase on the wire).

Every request and notification of the protocol is a ``msgspec`` struct here; the
method table (``_methods.py``) maps wire method names to them. The dispatcher
decodes with these types, the client decodes with them, and
``generate-json-schema`` derives the JSON Schema from them, so the three cannot
drift apart.

Unknown fields in params are ignored (forward compatibility). ``prompt`` of
``thread/realtime/start`` keeps absent (``UNSET``: default prompt) apart from
``null`` (no backend prompt).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from realtalk.app_server._api_tools import (
    CommandExecutionItem,
    CommandExecutionOutputDeltaNotification,
    CommandExecutionRequestApprovalParams,
    FileChangeItem,
    FileChangeRequestApprovalParams,
    FileUpdateChange,
    ServerRequestResolvedNotification,
)
from realtalk.protocol import Mode, OutputModality, Version

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


class _Camel(msgspec.Struct, rename="camel", kw_only=True, frozen=True):
    pass


class EmptyParams(_Camel, frozen=True):
    """No params (``{}`` or absent)."""


class EmptyResult(_Camel, frozen=True):
    """The result ``{}``."""


# -- initialize -----------------------------------------------------------------------


class ClientInfo(_Camel, frozen=True):
    name: str
    title: str | None = None
    version: str | None = None


class InitializeCapabilities(_Camel, frozen=True):
    experimental_api: bool = False
    opt_out_notification_methods: list[str] | None = None


class InitializeParams(_Camel, frozen=True):
    client_info: ClientInfo
    capabilities: InitializeCapabilities | None = None


class InitializeResult(_Camel, frozen=True):
    user_agent: str
    platform_family: str
    platform_os: str


# -- threads and turns ------------------------------------------------------------------


SandboxModeName = Literal["readOnly", "workspaceWrite", "dangerFullAccess"]
ApprovalPolicyName = Literal["never", "onRequest", "untrusted", "unlessTrusted"]
"""``unlessTrusted`` is the reference's older spelling of ``untrusted``."""


class ThreadStartParams(_Camel, frozen=True):
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


class UserMessageItem(_Camel, frozen=True, tag_field="type", tag="userMessage"):
    id: str
    content: list[UserInput]


class AgentMessageItem(_Camel, frozen=True, tag_field="type", tag="agentMessage"):
    id: str
    text: str


ThreadItem = UserMessageItem | AgentMessageItem | CommandExecutionItem | FileChangeItem

TurnStatus = Literal["inProgress", "completed", "interrupted", "failed"]


class TurnError(_Camel, frozen=True):
    message: str


class Turn(_Camel, frozen=True):
    id: str
    status: TurnStatus
    items: list[ThreadItem] = msgspec.field(default_factory=list)
    error: TurnError | None = None


class ThreadStatusNotLoaded(_Camel, frozen=True, tag_field="type", tag="notLoaded"):
    """Stored, not loaded in this app-server."""


class ThreadStatusIdle(_Camel, frozen=True, tag_field="type", tag="idle"):
    """Loaded, no turn running."""


class ThreadStatusActive(_Camel, frozen=True, tag_field="type", tag="active"):
    """Loaded, a turn is running."""

    active_flags: list[str] = msgspec.field(default_factory=list)


ThreadStatus = ThreadStatusNotLoaded | ThreadStatusIdle | ThreadStatusActive


class Thread(_Camel, frozen=True):
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


class ThreadStartResult(_Camel, frozen=True):
    thread: Thread
    model: str
    model_provider: str
    cwd: str
    approval_policy: ApprovalPolicyName = "onRequest"
    sandbox: SandboxModeName = "workspaceWrite"


class ThreadResumeParams(_Camel, frozen=True):
    """Load a stored thread; the other fields override what it was started with."""

    thread_id: str
    model: str | None = None
    cwd: str | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    approval_policy: ApprovalPolicyName | None = None
    sandbox: SandboxModeName | None = None


class ThreadResumeResult(_Camel, frozen=True):
    thread: Thread
    model: str
    model_provider: str
    cwd: str
    approval_policy: ApprovalPolicyName = "onRequest"
    sandbox: SandboxModeName = "workspaceWrite"


ThreadSortKey = Literal["created_at", "updated_at"]


class ThreadListParams(_Camel, frozen=True):
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


class ThreadListResult(_Camel, frozen=True):
    data: list[Thread]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; null on the last page."""


class ThreadArchiveParams(_Camel, frozen=True):
    thread_id: str


class ThreadUnarchiveParams(_Camel, frozen=True):
    thread_id: str


class ThreadUnarchiveResult(_Camel, frozen=True):
    thread: Thread


class ThreadArchivedNotification(_Camel, frozen=True):
    thread_id: str


class ThreadUnarchivedNotification(_Camel, frozen=True):
    thread_id: str


class TurnStartParams(_Camel, frozen=True):
    thread_id: str
    input: list[UserInput]


class TurnStartResult(_Camel, frozen=True):
    turn: Turn


class TurnInterruptParams(_Camel, frozen=True):
    thread_id: str
    turn_id: str


class TurnSteerParams(_Camel, frozen=True):
    thread_id: str
    input: list[UserInput]
    expected_turn_id: str


class TurnSteerResult(_Camel, frozen=True):
    turn_id: str


class ThreadStartedNotification(_Camel, frozen=True):
    thread: Thread


class TurnStartedNotification(_Camel, frozen=True):
    thread_id: str
    turn: Turn


class TurnCompletedNotification(_Camel, frozen=True):
    thread_id: str
    turn: Turn


class ItemStartedNotification(_Camel, frozen=True):
    thread_id: str
    turn_id: str
    item: ThreadItem


class ItemCompletedNotification(_Camel, frozen=True):
    thread_id: str
    turn_id: str
    item: ThreadItem


class AgentMessageDeltaNotification(_Camel, frozen=True):
    thread_id: str
    turn_id: str
    item_id: str
    delta: str


class ErrorNotification(_Camel, frozen=True):
    thread_id: str
    turn_id: str
    error: TurnError
    will_retry: bool = False


# -- realtime (experimental) ---------------------------------------------------------------


class RealtimeTransportWebsocket(msgspec.Struct, frozen=True, tag_field="type", tag="websocket"):
    pass


class RealtimeTransportWebrtc(msgspec.Struct, frozen=True, tag_field="type", tag="webrtc"):
    sdp: str


RealtimeTransport = RealtimeTransportWebsocket | RealtimeTransportWebrtc


class ThreadRealtimeStartParams(_Camel, frozen=True):
    thread_id: str
    output_modality: OutputModality
    prompt: str | None | msgspec.UnsetType = msgspec.UNSET
    realtime_session_id: str | None = None
    transport: RealtimeTransport | None = None
    voice: str | None = None
    version: Version | None = None
    mode: Mode | None = None
    model: str | None = None


class RealtimeAudioChunk(_Camel, frozen=True, omit_defaults=True):
    data: str
    sample_rate: int
    num_channels: int
    samples_per_channel: int | None = None
    item_id: str | None = None


class ThreadRealtimeAppendAudioParams(_Camel, frozen=True):
    thread_id: str
    audio: RealtimeAudioChunk


class ThreadRealtimeAppendTextParams(_Camel, frozen=True):
    thread_id: str
    text: str


class ThreadRealtimeStopParams(_Camel, frozen=True):
    thread_id: str


class ThreadRealtimeRequestResponseParams(_Camel, frozen=True):
    """Ask the model to answer what was appended so far (``appendText`` never does)."""

    thread_id: str


class ThreadRealtimeCancelHandoffParams(_Camel, frozen=True):
    """Cancel the task the conversation delegated to the agent (realtalk extension)."""

    thread_id: str


class ThreadRealtimeCancelHandoffResult(_Camel, frozen=True):
    """``cancelled``: a delegation was running (the model is told; the agent stops)."""

    cancelled: bool


class RealtimeVoices(_Camel, frozen=True):
    v1: list[str]
    v2: list[str]
    default_v1: str
    default_v2: str


class ThreadRealtimeListVoicesResult(_Camel, frozen=True):
    voices: RealtimeVoices


class ThreadRealtimeStartedNotification(_Camel, frozen=True):
    thread_id: str
    realtime_session_id: str | None
    version: Version


class ThreadRealtimeSdpNotification(_Camel, frozen=True):
    thread_id: str
    sdp: str


class ThreadRealtimeItemAddedNotification(_Camel, frozen=True):
    thread_id: str
    item: dict[str, Any]


class ThreadRealtimeTranscriptDeltaNotification(_Camel, frozen=True):
    thread_id: str
    role: Literal["user", "assistant"]
    delta: str


class ThreadRealtimeTranscriptDoneNotification(_Camel, frozen=True):
    thread_id: str
    role: Literal["user", "assistant"]
    text: str


class ThreadRealtimeOutputAudioDeltaNotification(_Camel, frozen=True):
    thread_id: str
    audio: RealtimeAudioChunk


class ThreadRealtimeErrorNotification(_Camel, frozen=True):
    thread_id: str
    message: str


class ThreadRealtimeReconnectedNotification(_Camel, frozen=True):
    """A new realtime session continues the thread's conversation, its history restored
    (the old one ended: ``cause`` is ``session_expired``, ``closed``, ``read_error``,
    ``send_failed`` or ``rotation``)."""

    thread_id: str
    cause: str
    attempts: int
    restored_items: int
    folded_items: int
    elapsed_ms: float


class ThreadRealtimeClosedNotification(_Camel, frozen=True):
    thread_id: str
    reason: str | None = None

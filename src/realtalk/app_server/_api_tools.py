"""Typed app-server API, part two: tool items and approval requests (camelCase on the wire).

Re-exported by :mod:`._api`, whose tables list them.
"""

from __future__ import annotations

from typing import Literal

from realtalk.app_server._api_base import Camel

__all__ = [
    "CommandExecutionItem",
    "CommandExecutionOutputDeltaNotification",
    "CommandExecutionRequestApprovalParams",
    "FileChangeItem",
    "FileChangeRequestApprovalParams",
    "FileUpdateChange",
    "ServerRequestResolvedNotification",
    "ToolItemStatus",
]


ToolItemStatus = Literal["inProgress", "completed", "failed", "declined"]


class CommandExecutionItem(Camel, frozen=True, tag_field="type", tag="commandExecution"):
    id: str
    command: str
    cwd: str
    status: ToolItemStatus
    aggregated_output: str | None = None
    exit_code: int | None = None


class CommandExecutionOutputDeltaNotification(Camel, frozen=True):
    """New output of the running command ``item_id`` (whole lines, scrubbed; best effort:
    lines that scroll past faster than the stream may be missing). The command's
    ``item/completed`` carries its whole (capped) ``aggregatedOutput``."""

    thread_id: str
    turn_id: str
    item_id: str
    delta: str


class FileUpdateChange(Camel, frozen=True):
    path: str
    kind: Literal["add", "update", "delete"]


class FileChangeItem(Camel, frozen=True, tag_field="type", tag="fileChange"):
    id: str
    changes: list[FileUpdateChange]
    status: ToolItemStatus


# -- approvals (server -> client requests) ------------------------------------------------


class CommandExecutionRequestApprovalParams(Camel, frozen=True, omit_defaults=True):
    thread_id: str
    turn_id: str
    item_id: str
    approval_id: str | None = None
    reason: str | None = None
    command: str | None = None
    cwd: str | None = None


class FileChangeRequestApprovalParams(Camel, frozen=True, omit_defaults=True):
    thread_id: str
    turn_id: str
    item_id: str
    reason: str | None = None
    grant_root: str | None = None


class ServerRequestResolvedNotification(Camel, frozen=True):
    thread_id: str
    request_id: str | int

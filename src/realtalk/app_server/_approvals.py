"""The thread's approver: approval questions become server-to-client requests.

A command question is ``item/commandExecution/requestApproval`` and a patch
question ``item/fileChange/requestApproval`` (reference 7), with the thread's
running turn and the tool call's id as ``itemId`` (the id of the item the
command or patch is reported as). The client answers ``{"decision": ...}``:
``accept``, ``acceptForSession``, ``decline`` or ``cancel`` (the object form
``{"acceptWithExecpolicyAmendment": ...}`` counts as ``accept``). An unparsable
answer, an error answer, no answer within the thread's approval timeout, or a
closed connection all decline. Every answered request is followed by
``serverRequest/resolved {threadId, requestId}``.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable

import msgspec

from realtalk.agent import ApprovalDecision, ApprovalRequest
from realtalk.app_server._api import (
    CommandExecutionRequestApprovalParams,
    FileChangeRequestApprovalParams,
    ServerRequestResolvedNotification,
)
from realtalk.app_server._connection import ServerRequestError
from realtalk.app_server._methods import NotificationMethod, ServerRequestMethod
from realtalk.protocol import RequestId

__all__ = ["ClientApprover", "ServerCall", "parse_decision"]

logger = logging.getLogger(__name__)

ServerCall = Callable[..., Awaitable[tuple[RequestId, msgspec.Raw]]]
"""``Connection.call(method, params, timeout=...)``."""
Notify = Callable[[NotificationMethod, msgspec.Struct], Awaitable[None]]

_ACCEPT_OBJECTS = frozenset({"acceptWithExecpolicyAmendment"})


def parse_decision(raw: msgspec.Raw) -> ApprovalDecision:
    """The decision in a client's answer; anything unparsable declines."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return ApprovalDecision.DECLINE
    decision = value.get("decision") if isinstance(value, dict) else None
    if isinstance(decision, str):
        try:
            return ApprovalDecision(decision)
        except ValueError:
            return ApprovalDecision.DECLINE
    if isinstance(decision, dict) and len(decision) == 1 and set(decision) <= _ACCEPT_OBJECTS:
        return ApprovalDecision.ACCEPT
    return ApprovalDecision.DECLINE


class ClientApprover:
    """Asks the thread's client (an :data:`~realtalk.agent.Approver`)."""

    def __init__(
        self,
        thread_id: str,
        *,
        call: ServerCall,
        notify: Notify,
        turn_id: Callable[[], str | None],
        timeout_s: float,
    ) -> None:
        self._thread_id = thread_id
        self._call = call
        self._notify = notify
        self._turn_id = turn_id
        self._timeout_s = timeout_s

    async def __call__(self, request: ApprovalRequest) -> ApprovalDecision:
        turn_id = self._turn_id() or ""
        params: msgspec.Struct
        if request.kind == "command":
            method = ServerRequestMethod.COMMAND_APPROVAL
            params = CommandExecutionRequestApprovalParams(
                thread_id=self._thread_id,
                turn_id=turn_id,
                item_id=request.call_id,
                approval_id=request.id,
                reason=request.reason,
                command=shlex.join(request.command),
                cwd=request.cwd,
            )
        else:
            method = ServerRequestMethod.FILE_CHANGE_APPROVAL
            params = FileChangeRequestApprovalParams(
                thread_id=self._thread_id,
                turn_id=turn_id,
                item_id=request.call_id,
                reason=request.question,
            )
        try:
            request_id, raw = await self._call(method, params, timeout=self._timeout_s)
        except ServerRequestError as exc:
            logger.warning(
                "approval request failed; declined: %s", exc, extra={"thread_id": self._thread_id}
            )
            return ApprovalDecision.DECLINE
        decision = parse_decision(raw)
        await self._notify(
            NotificationMethod.SERVER_REQUEST_RESOLVED,
            ServerRequestResolvedNotification(thread_id=self._thread_id, request_id=request_id),
        )
        return decision

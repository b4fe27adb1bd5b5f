"""Thread sandbox/approval params and the approval requests the server sends its client."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtalk.app_server import Client, RpcError, ThreadStartParams
from realtalk.app_server._api import CommandExecutionItem, FileChangeItem
from realtalk.protocol import RpcErrorObject, encode_error

from .conftest import TIMEOUT, Backend

PATCH_OUTSIDE = "*** Begin Patch\n*** Add File: ../outside.txt\n+x\n*** End Patch"


async def test_thread_start_takes_sandbox_and_approval(client: Client, tmp_path: Path) -> None:
    default = await client.thread_start()
    assert (default.sandbox, default.approval_policy) == ("workspaceWrite", "onRequest")
    chosen = await client.thread_start(
        ThreadStartParams(sandbox="readOnly", approval_policy="unlessTrusted")
    )
    assert (chosen.sandbox, chosen.approval_policy) == ("readOnly", "untrusted")
    with pytest.raises(RpcError, match="cannot be / with sandbox workspace-write"):
        await client.thread_start(ThreadStartParams(cwd="/"))
    assert (await client.thread_start(ThreadStartParams(cwd="/", sandbox="readOnly"))).cwd == "/"


async def _thread(client: Client, tmp_path: Path, **params: str) -> str:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    result = await client.thread_start(ThreadStartParams(cwd=str(ws), **params))  # type: ignore[arg-type]
    return result.thread.id


@pytest.mark.parametrize(("decision", "written"), [("accept", True), ("decline", False)])
async def test_file_change_approval_round_trip(
    client: Client, backend: Backend, tmp_path: Path, *, decision: str, written: bool
) -> None:
    thread_id = await _thread(client, tmp_path)
    mark = client.notification_count
    turn = (await client.turn_start(thread_id, PATCH_OUTSIDE)).turn
    request = await client.wait_for_server_request("item/fileChange/requestApproval")
    params = request.params
    assert params["threadId"] == thread_id and params["turnId"] == turn.id
    assert params["itemId"] == "call_1" and "../outside.txt" in params["reason"]
    await client.respond(request.id, {"decision": decision})
    resolved = await client.wait_for("serverRequest/resolved", start=mark, timeout=TIMEOUT)
    assert resolved.params.thread_id == thread_id and resolved.params.request_id == request.id
    await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    items = [
        n.params.item
        for n in client.notifications("item/completed", start=mark)
        if isinstance(n.params.item, FileChangeItem)
    ]
    assert [(i.id, i.status) for i in items] == [("call_1", "completed" if written else "declined")]
    assert (tmp_path / "outside.txt").exists() is written


async def test_command_approval_under_untrusted(
    client: Client, backend: Backend, tmp_path: Path
) -> None:
    thread_id = await _thread(client, tmp_path, approval_policy="untrusted")
    mark = client.notification_count
    await client.turn_start(thread_id, "run `touch made.txt`")
    request = await client.wait_for_server_request("item/commandExecution/requestApproval")
    assert request.params["command"] == "touch made.txt"
    assert request.params["cwd"] == str(tmp_path / "ws") and request.params["approvalId"]
    await client.respond(request.id, {"decision": "acceptForSession"})
    await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    done = [
        n.params.item
        for n in client.notifications("item/completed", start=mark)
        if isinstance(n.params.item, CommandExecutionItem)
    ]
    assert [(i.command, i.status, i.exit_code) for i in done] == [
        ("touch made.txt", "completed", 0)
    ]
    started = [
        n.params.item
        for n in client.notifications("item/started", start=mark)
        if isinstance(n.params.item, CommandExecutionItem)
    ]
    assert started[0].status == "inProgress" and started[0].id == done[0].id
    assert started[0].cwd == done[0].cwd == str(tmp_path / "ws")
    assert (tmp_path / "ws" / "made.txt").exists()


async def test_error_or_garbage_answers_decline(
    client: Client, backend: Backend, tmp_path: Path
) -> None:
    thread_id = await _thread(client, tmp_path)
    for answer in ("error", "garbage"):
        start = len(client.server_requests)
        mark = client.notification_count
        await client.turn_start(thread_id, PATCH_OUTSIDE)
        request = await client.wait_for_server_request(
            "item/fileChange/requestApproval", start=start
        )
        if answer == "error":
            await client.send_raw(encode_error(request.id, RpcErrorObject(-32000, "no UI")))
        else:
            await client.respond(request.id, {"decision": {"somethingNew": 1}})
        await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
        assert not (tmp_path / "outside.txt").exists()

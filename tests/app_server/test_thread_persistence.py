"""Threads that persist, end to end on loopback against the emulator: a thread, its
turn and its realtime transcript survive an app-server restart; ``thread/list`` and
``thread/resume`` show them; the resumed agent continues with its history and the
resumed realtime session starts with it. Then the same through real
``realtalk app-server`` processes, archiving, claims and bad requests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from realtalk import StoreError
from realtalk.app_server import (
    AppServer,
    AppServerOptions,
    Client,
    MemoryThreadStore,
    RpcError,
    SqliteThreadStore,
    StoredTurn,
    ThreadListParams,
    ThreadPage,
    ThreadQuery,
    ThreadRecord,
    ThreadResumeParams,
    ThreadStartParams,
    ThreadStatusActive,
    ThreadStatusIdle,
    ThreadStatusNotLoaded,
    Turn,
    default_server_command,
)
from realtalk.app_server._api_tools import CommandExecutionItem
from realtalk.conversation import Settings
from realtalk.protocol import OutputModality

from .conftest import API_KEY, TIMEOUT, Backend, ClientFactory, make_settings


def _texts(items: list[dict[str, Any]], role: str) -> list[str]:
    return [
        part["text"]
        for item in items
        if item.get("type") == "message" and item.get("role") == role
        for part in item["content"]
    ]


async def _serve(settings: Settings, work: Path, store: Any) -> AppServer:
    server = AppServer(settings, AppServerOptions(default_cwd=work, store=store))
    await server.start_websocket("127.0.0.1", 0)
    return server


async def _turn(client: Client, thread_id: str, text: str) -> Turn:
    mark = client.notification_count
    await client.turn_start(thread_id, text)
    done = await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    turn: Turn = done.params.turn
    assert turn.status == "completed"
    return turn


async def _instructions(client: Client, backend: Backend, thread_id: str) -> str:
    """Start realtime on the thread; the instructions its session.update carried."""
    before = len(backend.emulator.sessions)
    mark = client.notification_count
    await client.realtime_start(thread_id, output_modality=OutputModality.TEXT)
    await client.wait_for("thread/realtime/started", start=mark, timeout=TIMEOUT)
    await backend.emulator.wait_for_sessions(before + 1, timeout=TIMEOUT)
    record = backend.emulator.sessions[before]
    update = await record.wait_for_message(lambda m: m.get("type") == "session.update")
    instructions: str = update["session"]["instructions"]
    return instructions


async def test_a_thread_survives_an_app_server_restart(
    backend: Backend, client_factory: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "state" / "threads.sqlite3"
    work = tmp_path / "work"
    work.mkdir()
    # The generated startup context (not an override) carries the thread's history.
    settings = make_settings(backend.base_url, startup_context=None)

    store = await SqliteThreadStore.open(path)
    server = await _serve(settings, work, store)
    try:
        client = await client_factory(server.url)
        thread = (await client.thread_start(ThreadStartParams(sandbox="readOnly"))).thread
        first = await _turn(client, thread.id, "remember the word pelican")
        # A realtime exchange: the typed line and the model's answer join the thread.
        await _instructions(client, backend, thread.id)
        mark = client.notification_count
        await client.append_text(thread.id, "hello there")
        await client.request_response(thread.id)
        answer = await client.wait_for(
            "thread/realtime/transcript/done",
            lambda p: p.role == "assistant",
            start=mark,
            timeout=TIMEOUT,
        )
        assert answer.params.text == "You said: hello there"
        await client.realtime_stop(thread.id)
        await client.aclose()
    finally:
        await server.aclose()
        await store.aclose()

    store = await SqliteThreadStore.open(path)  # a new app-server on the same file
    server = await _serve(settings, work, store)
    try:
        client = await client_factory(server.url)
        listed = await client.thread_list()
        assert [t.id for t in listed.data] == [thread.id] and listed.next_cursor is None
        stored = listed.data[0]
        assert stored.preview == "remember the word pelican" and stored.cwd == str(work)
        assert stored.status == ThreadStatusNotLoaded() and stored.turns == []

        resumed = await client.thread_resume(thread.id)
        assert resumed.thread.id == thread.id and resumed.cwd == str(work)
        assert resumed.sandbox == "readOnly"  # the thread's own setting, kept
        assert resumed.thread.turns == [first]  # items and status as the client saw them
        assert resumed.thread.status == ThreadStatusIdle()
        assert (await client.thread_list()).data[0].status == ThreadStatusIdle()

        # The agent continues with its history: the next request carries the earlier turn.
        requests = len(backend.responses.requests)
        await _turn(client, thread.id, "what was the word?")
        sent = backend.responses.requests[requests].body["input"]
        assert _texts(sent, "user") == ["remember the word pelican", "what was the word?"]
        assert _texts(sent, "assistant") == ["You said: remember the word pelican"]

        # The resumed realtime session starts with the thread's turns and transcript.
        instructions = await _instructions(client, backend, thread.id)
        section = instructions[instructions.index("## Current Thread") :]
        assert section.index("Task for the background agent: remember the word pelican") < (
            section.index("User: hello there")
        )
        assert "Assistant: You said: hello there" in section
        latest = section[section.index("### Latest turn") :]
        assert "Task for the background agent: what was the word?" in latest
        assert "## Workspace" in latest  # the newest turn is the last one shown
    finally:
        await server.aclose()
        await store.aclose()


@pytest.fixture
async def spawn(tmp_path: Path, backend: Backend) -> AsyncIterator[Any]:
    clients: list[Client] = []
    work = tmp_path / "work"
    work.mkdir()

    async def make(*extra: str) -> Client:
        env = {
            **os.environ,
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_BASE_URL": backend.base_url,
            "REALTALK_STARTUP_CONTEXT": "",
            "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
        }
        command = [*default_server_command(), "--cwd", str(work), *extra]
        client = await Client.spawn(command, env=env, cwd=str(work))
        clients.append(client)
        await client.initialize("realtalk_tests")
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_app_server_processes_share_the_default_state_file(
    spawn: Any, backend: Backend, tmp_path: Path
) -> None:
    first = await spawn()
    thread_id = (await first.thread_start()).thread.id
    await _turn(first, thread_id, "note the number 42")
    await first.aclose()  # the process exits: its claims are released
    assert (tmp_path / "xdg-state" / "realtalk" / "threads.sqlite3").is_file()

    second = await spawn()
    assert [t.id for t in (await second.thread_list()).data] == [thread_id]
    resumed = await second.thread_resume(thread_id)
    assert [t.status for t in resumed.thread.turns] == ["completed"]
    requests = len(backend.responses.requests)
    await _turn(second, thread_id, "which number?")
    sent = backend.responses.requests[requests].body["input"]
    assert _texts(sent, "user") == ["note the number 42", "which number?"]

    # A third app-server sees the thread but cannot take it while the second holds it.
    third = await spawn()
    assert [t.id for t in (await third.thread_list()).data] == [thread_id]
    with pytest.raises(RpcError) as busy:
        await third.thread_resume(thread_id)
    assert busy.value.code == -32600
    assert "open in another app-server" in busy.value.rpc_message
    assert f"pid {second.process.pid if second.process else '?'}" in busy.value.rpc_message


async def test_ephemeral_app_server_writes_no_file(spawn: Any, tmp_path: Path) -> None:
    client = await spawn("--ephemeral")
    thread_id = (await client.thread_start()).thread.id
    # Threads live in the process's memory: listed while it runs, gone after.
    assert [t.id for t in (await client.thread_list()).data] == [thread_id]
    await client.aclose()
    assert not (tmp_path / "xdg-state" / "realtalk" / "threads.sqlite3").exists()
    again = await spawn("--ephemeral")
    assert (await again.thread_list()).data == []


async def test_archive_unarchive_and_resume_rules(
    server: AppServer, client_factory: ClientFactory
) -> None:
    client = await client_factory(server.url)
    other = await client_factory(server.url)
    kept = (await client.thread_start()).thread.id
    gone = (await client.thread_start()).thread.id
    scratch = (await client.thread_start(ThreadStartParams(ephemeral=True))).thread
    assert scratch.ephemeral
    assert [t.id for t in (await client.thread_list()).data] == [gone, kept]  # not scratch
    with pytest.raises(RpcError, match="ephemeral"):
        await client.thread_archive(scratch.id)

    # Resuming a thread loaded here changes nothing; loaded elsewhere, it is refused.
    assert (await client.thread_resume(kept)).thread.id == kept
    with pytest.raises(RpcError) as elsewhere:
        await other.thread_resume(kept)
    assert "another connection of this app-server" in elsewhere.value.rpc_message
    with pytest.raises(RpcError, match="archive it there"):
        await other.thread_archive(kept)
    with pytest.raises(RpcError) as unknown:
        await other.thread_resume("thr_nope")
    assert (unknown.value.code, unknown.value.rpc_message) == (-32600, "thread not found: thr_nope")

    # Archiving a loaded thread closes it; it leaves the list unless archived ones are asked.
    mark = client.notification_count
    await client.thread_archive(gone)
    archived = await client.wait_for("thread/archived", start=mark)
    assert archived.params.thread_id == gone
    with pytest.raises(RpcError, match="thread not found"):
        await client.turn_start(gone, "still there?")
    assert [t.id for t in (await client.thread_list()).data] == [kept]
    only_archived = await client.thread_list(ThreadListParams(archived=True))
    assert [t.id for t in only_archived.data] == [gone]
    with pytest.raises(RpcError, match="is archived; send thread/unarchive first"):
        await other.thread_resume(gone)

    restored = await other.thread_unarchive(gone)
    assert restored.id == gone and restored.status == ThreadStatusNotLoaded()
    await other.wait_for("thread/unarchived", lambda p: p.thread_id == gone)
    assert (await other.thread_resume(gone)).thread.status == ThreadStatusIdle()


async def test_list_pages_and_bad_params(server: AppServer, client_factory: ClientFactory) -> None:
    client = await client_factory(server.url)
    made = [(await client.thread_start()).thread.id for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.thread_list(ThreadListParams(limit=2, cursor=cursor))
        assert len(page.data) <= 2
        seen += [t.id for t in page.data]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == made[::-1]  # newest first, each once
    with pytest.raises(RpcError) as bad_cursor:
        await client.thread_list(ThreadListParams(cursor="bogus"))
    assert bad_cursor.value.code == -32600 and "nextCursor" in bad_cursor.value.rpc_message
    with pytest.raises(RpcError) as bad_limit:
        await client.thread_list(ThreadListParams(limit=0))
    assert bad_limit.value.code == -32602 and bad_limit.value.data == {"field": "limit"}
    capped = msgspec.json.decode(await client.request_raw("thread/list", {"limit": 100_000}))
    assert len(capped["data"]) == 5


async def test_resume_repairs_what_a_stopped_app_server_left(
    backend: Backend, client_factory: ClientFactory, tmp_path: Path
) -> None:
    """A turn cut short comes back interrupted, and an agent call without output gets one."""
    store = MemoryThreadStore()
    record = ThreadRecord(
        id="thr_cut",
        cwd=str(tmp_path),
        model="gpt-5-codex",
        model_provider="openai",
        instructions="be brief",
        created_ms=1,
        updated_ms=1,
    )
    await store.create(record)
    await store.save_turn(
        "thr_cut", StoredTurn(turn=Turn(id="turn_cut", status="inProgress"), created_ms=2)
    )
    ask = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]}
    call = {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{}"}
    await store.append_history("thr_cut", [ask, call])
    await store.release("thr_cut")
    server = await _serve(make_settings(backend.base_url), tmp_path, store)
    try:
        client = await client_factory(server.url)
        resumed = await client.thread_resume("thr_cut", ThreadResumeParams(thread_id="thr_cut"))
        assert [(t.id, t.status) for t in resumed.thread.turns] == [("turn_cut", "interrupted")]
        await _turn(client, "thr_cut", "again")
        sent = backend.responses.requests[-1].body["input"]
        outputs = [i for i in sent if i.get("type") == "function_call_output"]
        assert [o["call_id"] for o in outputs] == ["call_1"]
        assert outputs[0]["output"].startswith("aborted: the session ended")
    finally:
        await server.aclose()
    stored = await store.load("thr_cut")
    assert stored.turns[0].turn.status == "interrupted"


class _BrokenStore(MemoryThreadStore):
    async def create(self, record: ThreadRecord) -> None:
        raise StoreError("the thread store /x stayed locked for 5 s; try again")

    async def list_threads(self, query: ThreadQuery) -> ThreadPage:
        raise StoreError("the thread store /x is unreadable")


async def test_a_failing_store_is_an_internal_error_that_says_why(
    backend: Backend, client_factory: ClientFactory, tmp_path: Path
) -> None:
    server = await _serve(make_settings(backend.base_url), tmp_path, _BrokenStore())
    try:
        client = await client_factory(server.url)
        with pytest.raises(RpcError) as start:
            await client.thread_start()
        assert (start.value.code, start.value.rpc_message) == (
            -32603,
            "the thread store /x stayed locked for 5 s; try again",
        )
        assert server.registry.loaded == {}  # nothing half-open is left behind
        # An ephemeral thread does not need the store.
        assert (await client.thread_start(ThreadStartParams(ephemeral=True))).thread.ephemeral
        with pytest.raises(RpcError, match="unreadable") as listing:
            await client.thread_list()
        assert listing.value.code == -32603
    finally:
        await server.aclose()


async def test_a_thread_running_a_turn_is_listed_active(
    server: AppServer, client_factory: ClientFactory, tmp_path: Path
) -> None:
    gate = tmp_path / "gate.fifo"
    os.mkfifo(gate)
    client = await client_factory(server.url)
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    await client.turn_start(thread_id, f"run `cat {gate}`")
    await client.wait_for(
        "item/started", lambda p: isinstance(p.item, CommandExecutionItem), start=mark
    )
    try:
        assert (await client.thread_list()).data[0].status == ThreadStatusActive()
    finally:
        await asyncio.to_thread(gate.write_text, "done\n")
    await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)
    assert (await client.thread_list()).data[0].status == ThreadStatusIdle()

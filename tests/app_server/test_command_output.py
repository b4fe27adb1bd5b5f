"""A running command's output reaches the client while it runs:
``item/commandExecution/outputDelta`` between the item's ``item/started`` and
``item/completed`` (real loopback connection, emulated Responses API, real sandbox)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtalk.app_server import (
    Client,
    CommandExecutionItem,
    CommandExecutionOutputDeltaNotification,
    ItemCompletedNotification,
    ItemStartedNotification,
    Notification,
)

from .._fifo import fifo_at
from .conftest import TIMEOUT

OUTPUT_DELTA = "item/commandExecution/outputDelta"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO the command blocks on (``cat``) until the test writes to it."""
    with fifo_at(tmp_path / "gate.fifo") as path:
        yield path


def _command_item_at(
    notes: list[Notification], kind: type[ItemStartedNotification | ItemCompletedNotification]
) -> int:
    """Where the first ``kind`` (started, completed) of a command item is."""
    return next(
        i
        for i, n in enumerate(notes)
        if isinstance(n.params, kind) and isinstance(n.params.item, CommandExecutionItem)
    )


async def test_output_deltas_stream_while_the_command_runs(client: Client, fifo: Path) -> None:
    thread_id = (await client.thread_start()).thread.id
    mark = client.notification_count
    script = f"echo first; echo second; cat {fifo}; echo last"
    turn = (await client.turn_start(thread_id, f'run `sh -c "{script}"`')).turn
    # The first lines arrive while the command still blocks on the FIFO.
    first = await client.wait_for(OUTPUT_DELTA, start=mark, timeout=TIMEOUT)
    assert isinstance(first.params, CommandExecutionOutputDeltaNotification)
    assert first.params.thread_id == thread_id and first.params.turn_id == turn.id
    assert first.params.delta.startswith("first\n")
    assert "turn/completed" not in [n.method for n in client.notifications(start=mark)]
    await asyncio.to_thread(fifo.write_text, "released\n")
    await client.wait_for("turn/completed", start=mark, timeout=TIMEOUT)

    notes = client.notifications(start=mark)
    start_at = _command_item_at(notes, ItemStartedNotification)
    end_at = _command_item_at(notes, ItemCompletedNotification)
    started = notes[start_at].params
    done = notes[end_at].params
    assert isinstance(started, ItemStartedNotification)
    assert isinstance(done, ItemCompletedNotification)
    assert isinstance(done.item, CommandExecutionItem)
    deltas = [
        (i, n.params)
        for i, n in enumerate(notes)
        if isinstance(n.params, CommandExecutionOutputDeltaNotification)
    ]
    # Every delta names the command's item and comes between its start and its end.
    assert {d.item_id for _, d in deltas} == {started.item.id} == {done.item.id}
    assert start_at < deltas[0][0] and deltas[-1][0] < end_at
    streamed = "".join(d.delta for _, d in deltas)
    assert streamed == "first\nsecond\nreleased\nlast\n"
    assert done.item.aggregated_output == streamed and done.item.exit_code == 0

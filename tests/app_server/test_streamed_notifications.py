"""Streaming deltas skip the thread's event pump (straight to the client's outbox);
everything else takes the pump. Together they keep the conversation's order."""

from __future__ import annotations

import msgspec

from realtalk.app_server import Client
from realtalk.app_server._api import EmptyResult
from realtalk.app_server._connection import Connection, ConnectionLimits
from realtalk.app_server._methods import NotificationMethod

from .conftest import Backend, pcm_b64, start_realtime


async def test_deltas_and_other_events_arrive_in_the_order_the_server_sent_them(
    client: Client, backend: Backend
) -> None:
    _thread_id, record = await start_realtime(client, backend)
    mark = client.notification_count
    fields = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0}
    for i in range(50):
        await record.send_event(
            {"type": "response.output_audio.delta", **fields, "delta": pcm_b64(20, i)}
        )
        await record.send_event(
            {"type": "response.output_audio_transcript.delta", **fields, "delta": f"w{i} "}
        )
        if i % 10 == 9:  # a pump event between the deltas: the transcript so far
            await record.send_event(
                {
                    "type": "response.output_audio_transcript.done",
                    **fields,
                    "content_index": 0,
                    "transcript": f"line {i}",
                }
            )
    dones = await client.wait_for_count("thread/realtime/transcript/done", 5, start=mark)
    assert [d.params.text for d in dones] == [f"line {i}" for i in range(9, 50, 10)]
    seen: list[str] = []
    for note in client.notifications(start=mark):
        params = note.params
        if note.method == "thread/realtime/outputAudio/delta":
            seen.append("audio")
        elif note.method == "thread/realtime/transcript/delta":
            seen.append(params.delta.strip())
        elif note.method == "thread/realtime/transcript/done":
            seen.append(params.text)
    expected: list[str] = []
    for i in range(50):
        expected += ["audio", f"w{i}"]
        if i % 10 == 9:
            expected.append(f"line {i}")
    assert seen == expected


async def test_notify_now_queues_without_waiting_and_says_when_there_is_no_room() -> None:
    conn = Connection("c", ConnectionLimits(outbound_queue_size=2))
    conn.initialized = True
    conn.experimental_api = True
    method = NotificationMethod.REALTIME_OUTPUT_AUDIO_DELTA
    assert conn.notify_now(method, EmptyResult())
    assert conn.notify_now(method, EmptyResult())
    assert not conn.notify_now(method, EmptyResult())  # full: the caller awaits notify
    conn.opt_out = frozenset({method.value})
    assert conn.notify_now(method, EmptyResult())  # opted out: nothing to send
    await conn.aclose()
    conn.opt_out = frozenset()
    assert conn.notify_now(method, EmptyResult())  # closed: dropped, as notify drops it
    drained = [msgspec.json.decode(data) async for data in conn.outgoing()]
    assert [d["method"] for d in drained] == [method.value] * 2  # the two queued in time

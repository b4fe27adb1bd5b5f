"""Hostile or unlucky clients: bad items, absurdly deep JSON, shutdown races.

Everything runs against a real emulator on loopback (raw websockets / aiohttp
clients, a real aiortc offer) except the two model-level tests, which drive
:class:`ScriptedModel` directly because their failure is inside the model.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from realtalk.emulator import AudioSink, Emulator, EmulatorOptions, ScriptedModel
from realtalk.emulator._call_media import Call
from realtalk.emulator._responder import Responder
from realtalk.emulator._script import Plan, PlanKind
from realtalk.emulator._speech import ActiveResponse, ResponseWriter
from realtalk.emulator._wire import IdFactory, SessionMode, SessionVersion

from ._calls_support import BOUNDARY, multipart, post
from ._client import open_client, user_text

JsonDict = dict[str, Any]

# Far deeper than Python's recursion limit: every JSON decoder raises RecursionError.
DEEP = "[" * 20_000 + "]" * 20_000
RESPONSE_FIELDS: JsonDict = {
    "model": "m",
    "instructions": "",
    "tools": [],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "store": False,
    "stream": True,
    "include": [],
    "prompt_cache_key": "k",
}


def _deep_response_body(*, websocket: bool) -> str:
    """A valid-looking request whose first input item hides ``DEEP``."""
    head = '{"type":"response.create",' if websocket else "{"
    fields = json.dumps(RESPONSE_FIELDS)[1:-1]
    return head + fields + ',"input":[{"type":"message","x":' + DEEP + "}]}"


def _valid_response_frame() -> str:
    user = {"type": "message", "role": "user", "content": "hello"}
    return json.dumps({"type": "response.create", **RESPONSE_FIELDS, "input": [user]})


# ------------------------------------------------------------------ conversation items


@pytest.mark.parametrize("content", [5, 1.5, True, "text", {"text": "hi"}])
async def test_message_item_with_non_list_content_is_an_error_and_the_socket_lives(
    emulator: Emulator, content: object
) -> None:
    async with open_client(emulator.ws_base_url + "/realtime") as client:
        assert (await client.recv())["type"] == "session.created"
        item = {"type": "message", "role": "user", "content": content}
        await client.send({"type": "conversation.item.create", "event_id": "ev1", "item": item})
        error = await client.recv()
        assert error["type"] == "error"
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["code"] == "invalid_type"
        assert error["error"]["param"] == "item.content"
        assert error["error"]["event_id"] == "ev1"
        await client.send(user_text("still here?"))
        assert (await client.recv())["type"] == "conversation.item.added"


async def test_a_failing_handler_costs_one_server_error_event_not_the_session() -> None:
    model = ScriptedModel(realtime_audio=False)
    received: list[JsonDict] = []

    async def broken_sink(event: JsonDict) -> None:
        if event["type"] == "conversation.item.added":
            raise RuntimeError("simulated emulator bug")

    async def recorder(event: JsonDict) -> None:
        received.append(event)

    model.add_sink(broken_sink)
    model.add_sink(recorder)
    await model.handle_client_event({**user_text("hi"), "event_id": "ev7"})
    errors = [e for e in received if e["type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["error"]["type"] == "server_error"
    assert errors[0]["error"]["event_id"] == "ev7"
    await model.handle_client_event({"type": "session.update", "session": {}})
    assert received[-1]["type"] == "session.updated"
    await model.aclose()


async def test_no_response_starts_once_the_model_is_closed() -> None:
    """A handler blocked on a slow sink resumes after ``aclose()``: it must not respond."""
    model = ScriptedModel(realtime_audio=False, auto_respond_to_text=True)
    acked, release = asyncio.Event(), asyncio.Event()
    received: list[JsonDict] = []

    async def slow_sink(event: JsonDict) -> None:
        received.append(event)
        if event["type"] == "conversation.item.done":
            acked.set()
            await release.wait()

    model.add_sink(slow_sink)
    handling = asyncio.create_task(model.handle_client_event(user_text("hello")))
    async with asyncio.timeout(5):
        await acked.wait()
    await model.aclose()
    release.set()
    async with asyncio.timeout(5):
        await handling
    assert model.active_response_id is None
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("emulator-response")]
    assert not [e for e in received if e["type"].startswith("response.")]


async def test_a_closed_responder_starts_nothing() -> None:
    emitted: list[JsonDict] = []

    async def emit(event: JsonDict) -> None:
        emitted.append(event)

    writer = ResponseWriter(emit, IdFactory(), v1=True, realtime=False)

    def new_response(_params: JsonDict) -> ActiveResponse:
        return ActiveResponse("resp_1", modalities=["audio"], voice="alloy", metadata=None)

    responder = Responder(writer, new_response, lambda: None)
    await responder.aclose()
    responder.start({}, Plan(PlanKind.SPEAK, text="too late"))
    responder.queue_speech("also too late")
    assert responder.active is None
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("emulator-response")]
    assert emitted == []


# -------------------------------------------------------------------------- deep JSON


async def test_deep_json_on_the_realtime_socket_is_invalid_json(emulator: Emulator) -> None:
    async with open_client(emulator.ws_base_url + "/realtime") as client:
        assert (await client.recv())["type"] == "session.created"
        await client.ws.send(DEEP)
        error = await client.recv()
        assert error["type"] == "error"
        assert error["error"]["code"] == "invalid_json"
        await client.send({"type": "session.update", "session": {}})
        assert (await client.recv())["type"] == "session.updated"


async def test_deep_json_on_the_responses_socket_is_a_400_error(emulator: Emulator) -> None:
    async with open_client(emulator.ws_base_url + "/responses") as client:
        await client.ws.send(_deep_response_body(websocket=True))
        error = await client.recv()
        assert error["type"] == "error"
        assert error["status"] == 400
        await client.ws.send(_valid_response_frame())
        assert (await client.recv())["type"] == "response.created"


async def test_deep_json_posted_to_responses_is_a_400(emulator: Emulator) -> None:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(
            emulator.base_url + "/responses",
            data=_deep_response_body(websocket=False),
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400
        assert "nested too deeply" in (await response.json())["error"]["message"]


async def test_deep_json_in_a_call_body_is_a_400(emulator: Emulator) -> None:
    as_json = '{"sdp":"v=0","session":' + DEEP + "}"
    answer = await post(emulator, as_json.encode(), "application/json")
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["type"] == "invalid_request_error"

    as_multipart = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="sdp"\r\n\r\nv=0\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="session"\r\n\r\n{DEEP}\r\n'
        f"--{BOUNDARY}--\r\n"
    )
    answer = await post(
        emulator, as_multipart.encode(), f"multipart/form-data; boundary={BOUNDARY}"
    )
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["param"] == "session"


# ---------------------------------------------------------------- call creation races


class _AnswerSpy(Emulator):
    """Signals when a call creation is about to answer its offer.

    ``new_model`` is called by the call handler right before it awaits the aiortc
    answer; with no session in the body nothing in between yields, so a waiter woken
    by :attr:`answering` runs while the handler is inside ``answer()``.
    """

    def __init__(self) -> None:
        super().__init__(EmulatorOptions(audio_realtime=False))
        self.answering = asyncio.Event()
        self.call: Call | None = None
        self.handler: asyncio.Task[Any] | None = None

    def new_model(
        self,
        *,
        version: SessionVersion = "v2",
        mode: SessionMode = "conversational",
        model: str | None = None,
        audio_sink: AudioSink | None = None,
    ) -> ScriptedModel:
        owner = getattr(audio_sink, "__self__", None)
        if isinstance(owner, Call):
            self.call = owner
            self.handler = asyncio.current_task()
            self.answering.set()
        return super().new_model(version=version, mode=mode, model=model, audio_sink=audio_sink)


def _post_call(emu: Emulator, offer: str) -> asyncio.Task[Any]:
    body = multipart(offer, None)
    return asyncio.create_task(post(emu, body, f"multipart/form-data; boundary={BOUNDARY}"))


def _call_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("emulator-call-")]


async def test_aclose_during_a_call_answer_refuses_the_call_and_closes_it(offer: str) -> None:
    emu = _AnswerSpy()
    await emu.start()
    try:
        posting = _post_call(emu, offer)
        async with asyncio.timeout(5):
            await emu.answering.wait()
        await emu.aclose()
        answer = await posting
    finally:
        await emu.aclose()
    assert answer.status == 503, answer.body
    assert "Location" not in answer.headers
    call = emu.call
    assert call is not None
    assert call.record.ended.is_set()
    assert call.peer.ended
    assert _call_tasks() == []


async def test_a_call_handler_cancelled_mid_answer_closes_its_peer(offer: str) -> None:
    emu = _AnswerSpy()
    await emu.start()
    try:
        posting = _post_call(emu, offer)
        async with asyncio.timeout(5):
            await emu.answering.wait()
        assert emu.handler is not None and emu.call is not None
        emu.handler.cancel()
        with pytest.raises(aiohttp.ClientError):
            await posting
        async with asyncio.timeout(5):
            await emu.call.record.ended.wait()
        assert emu.call.peer.ended
        assert _call_tasks() == []
    finally:
        await emu.aclose()

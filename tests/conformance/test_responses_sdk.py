"""The Responses API as the official ``openai`` SDK uses it, against the emulator.

Every event and Response object the emulator sends is validated against the SDK's
pydantic types (strict), not only parsed by the SDK's lenient client.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pydantic
import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
)

from realtalk.emulator import Emulator

from ._schemas import (
    validate_response,
    validate_responses_sse_event,
    validate_responses_ws_event,
)

JsonDict = dict[str, Any]
MODEL = "gpt-5"
WEATHER: JsonDict = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
TIME: JsonDict = {
    "type": "function",
    "name": "get_time",
    "parameters": {
        "type": "object",
        "properties": {"zone": {"type": "string"}},
        "required": ["zone"],
        "additionalProperties": False,
    },
    "strict": True,
}


TOOLS: Any = [WEATHER, TIME]
"""Typed ``Any``: the SDK's TypedDict params reject a plain dict."""


def validate_everything_sent(emulator: Emulator) -> int:
    """Validate every body and event the emulator sent; returns how many."""
    count = 0
    for request in emulator.responses.requests:
        for event in request.events:
            if request.transport == "websocket":
                validate_responses_ws_event(event)
            elif "type" in event:
                validate_responses_sse_event(event)
            elif "object" in event:
                validate_response(event)
            else:
                assert set(event) == {"error"}, event
            count += 1
    return count


async def test_create_answers_one_response_object(emulator: Emulator, client: AsyncOpenAI) -> None:
    response = await client.responses.create(model=MODEL, input="hello there")
    assert response.status == "completed"
    assert response.output_text == "You said: hello there"
    assert response.usage is not None and response.usage.total_tokens > 0
    (request,) = emulator.responses.requests
    assert request.transport == "http" and "stream" not in request.body
    (body,) = request.events
    assert body["object"] == "response"  # one JSON object, not an event stream
    assert validate_everything_sent(emulator) == 1


@pytest.mark.parametrize(
    "items",
    [
        [{"role": "user", "content": "hi as a bare message"}],
        [{"role": "user", "content": [{"type": "input_text", "text": "hi as a bare message"}]}],
        [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi as a bare message"}],
            }
        ],
        [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "You said: earlier"},
            {"role": "user", "content": "hi as a bare message"},
        ],
    ],
)
async def test_input_items_in_every_shape(client: AsyncOpenAI, items: list[JsonDict]) -> None:
    response = await client.responses.create(model=MODEL, input=items)  # type: ignore[arg-type]
    assert response.output_text == "You said: hi as a bare message"


async def test_streaming_emits_the_full_event_set(emulator: Emulator, client: AsyncOpenAI) -> None:
    stream = await client.responses.create(model=MODEL, input="stream these words", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e for e in events if isinstance(e, ResponseTextDeltaEvent)]
    assert len(deltas) > 1 and {(d.output_index, d.content_index) for d in deltas} == {(0, 0)}
    assert "".join(d.delta for d in deltas) == "You said: stream these words"
    assert validate_everything_sent(emulator) == len(events)


async def test_the_stream_helper_and_its_final_response(client: AsyncOpenAI) -> None:
    async with client.responses.stream(model=MODEL, input="helper here") as stream:
        text = "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])
        final = await stream.get_final_response()
    assert text == final.output_text == "You said: helper here"


async def test_a_declared_tool_is_called_and_its_output_quoted(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    first = await client.responses.create(
        model=MODEL,
        input="use get_weather for 'Paris'",
        tools=TOOLS,
    )
    (call,) = first.output
    assert isinstance(call, ResponseFunctionToolCall) and call.name == "get_weather"
    arguments = json.loads(call.arguments)
    jsonschema.validate(arguments, WEATHER["parameters"])
    assert arguments["city"] == "Paris"
    # Chained by id: only the tool output is sent.
    second = await client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C, sunny"}],
        tools=TOOLS,
    )
    assert second.output_text == "The get_weather tool returned: 18C, sunny"
    # Replayed in full (as openai-agents does): the same answer.
    replay = await client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "use get_weather for 'Paris'"},
            call.model_dump(exclude_unset=True),  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C, sunny"},
        ],
    )
    assert replay.output_text == second.output_text
    validate_everything_sent(emulator)


async def test_parallel_tool_calls_and_tool_choice(client: AsyncOpenAI) -> None:
    ask = "use get_time for 'UTC' and get_weather for 'Oslo'"
    both = await client.responses.create(model=MODEL, input=ask, tools=TOOLS)
    assert [getattr(item, "name", None) for item in both.output] == ["get_time", "get_weather"]
    assert len({getattr(item, "call_id", None) for item in both.output}) == 2
    one = await client.responses.create(
        model=MODEL,
        input=ask,
        tools=TOOLS,
        parallel_tool_calls=False,
    )
    assert [getattr(item, "name", None) for item in one.output] == ["get_time"]
    none = await client.responses.create(
        model=MODEL,
        input=ask,
        tools=TOOLS,
        tool_choice="none",
    )
    assert isinstance(none.output[0], ResponseOutputMessage)
    forced = await client.responses.create(
        model=MODEL,
        input="hello",
        tools=TOOLS,
        tool_choice={"type": "function", "name": "get_weather"},
    )
    assert [getattr(item, "name", None) for item in forced.output] == ["get_weather"]
    assert forced.tool_choice.type == "function"  # type: ignore[union-attr]
    undeclared = await client.responses.create(model=MODEL, input="use get_weather now")
    assert undeclared.output_text == "You said: use get_weather now"


async def test_instructions_reach_the_model(client: AsyncOpenAI) -> None:
    response = await client.responses.create(
        model=MODEL, instructions="Answer like a pirate.", input="what are your instructions?"
    )
    assert response.output_text == "My instructions are: Answer like a pirate."
    assert response.instructions == "Answer like a pirate."


async def test_previous_response_id_over_http_needs_a_stored_response(
    client: AsyncOpenAI,
) -> None:
    stored = await client.responses.create(model=MODEL, input="first")
    follow = await client.responses.create(
        model=MODEL, previous_response_id=stored.id, input="second"
    )
    assert follow.previous_response_id == stored.id
    assert follow.usage is not None and stored.usage is not None
    assert follow.usage.input_tokens > stored.usage.input_tokens  # the chain is the context
    unstored = await client.responses.create(model=MODEL, input="first", store=False)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model=MODEL, previous_response_id=unstored.id, input="x")
    assert caught.value.code == "previous_response_not_found"
    retrieved = await client.responses.retrieve(stored.id)
    assert retrieved.output_text == "You said: first"
    await client.responses.delete(stored.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(stored.id)


async def test_requests_the_api_refuses(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        no_model: Any = {"input": "no model"}
        await client.responses.create(**no_model)
    assert caught.value.code == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(
            model=MODEL,
            input=[{"type": "function_call_output", "call_id": "call_x", "output": "?"}],
        )
    assert "No tool call found" in str(caught.value)
    with pytest.raises(openai.BadRequestError):
        not_input: Any = 42
        await client.responses.create(model=MODEL, input=not_input)


async def test_responses_over_the_websocket(emulator: Emulator, client: AsyncOpenAI) -> None:
    async with client.responses.connect() as connection:
        first: Any = {
            "type": "response.create",
            "model": MODEL,
            "input": "use get_weather",
            "store": False,
            "tools": [WEATHER],
        }
        await connection.send(first)
        call_id, first_id = "", ""
        async for event in connection:
            if event.type == "response.output_item.done" and event.item.type == "function_call":
                call_id = event.item.call_id
            if event.type == "response.completed":
                first_id = event.response.id
                break
        # store=false: the socket itself remembers its latest response.
        output = {"type": "function_call_output", "call_id": call_id, "output": "rain"}
        second: Any = {
            "type": "response.create",
            "model": MODEL,
            "previous_response_id": first_id,
            "input": [output],
            "stream_id": "lane-1",
        }
        await connection.send(second)
        lanes: set[str | None] = set()
        async for event in connection:
            lanes.add(getattr(event, "stream_id", None))
            if event.type == "response.completed":
                answer: Any = event.response.output[0]
                assert answer.content[0].text == "The get_weather tool returned: rain"
                break
        assert lanes == {"lane-1"}
        unknown: Any = {
            "type": "response.create",
            "model": MODEL,
            "previous_response_id": "resp-404",
            "input": "x",
        }
        await connection.send(unknown)
        error: Any = await connection.recv()
        assert error.type == "error" and error.error.code == "previous_response_not_found"
    assert validate_everything_sent(emulator) > 20


async def test_a_stored_stream_can_be_resumed(client: AsyncOpenAI) -> None:
    first = await client.responses.create(model=MODEL, input="resume this text please")
    async with client.responses.stream(response_id=first.id, starting_after=4) as stream:
        numbers = [event.sequence_number async for event in stream]
        final = await stream.get_final_response()
    assert numbers[0] == 5 and numbers == list(range(5, 5 + len(numbers)))
    assert final.output_text == "You said: resume this text please"


def test_the_validators_can_fail() -> None:
    delta = {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "hi",
        "logprobs": [],
    }
    validate_responses_sse_event(delta)
    for field in ("sequence_number", "content_index", "logprobs", "item_id"):
        with pytest.raises(pydantic.ValidationError):
            validate_responses_sse_event({k: v for k, v in delta.items() if k != field})
    with pytest.raises(pydantic.ValidationError):
        validate_responses_ws_event({"type": "error", "status": 400, "error": {"message": "x"}})
    with pytest.raises(pydantic.ValidationError):
        validate_response({"id": "resp_1", "object": "response", "created_at": 1, "model": MODEL})

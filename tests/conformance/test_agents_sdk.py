"""openai-agents against the emulator: ``Runner`` (Responses API) and ``RealtimeRunner``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool
from agents.models.openai_responses import OpenAIResponsesWSModel
from agents.realtime import RealtimeAgent, RealtimeRunner, RealtimeSession
from agents.realtime.openai_realtime import OpenAIRealtimeSIPModel
from openai import AsyncOpenAI

from realtalk.emulator import Emulator

from .test_realtime_sdk import validate_every_socket
from .test_responses_sdk import validate_everything_sent

WAIT_S = 10.0
NO_TRACING = RunConfig(tracing_disabled=True)


@pytest.fixture(autouse=True)
def _no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's trace exporter would call api.openai.com.
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")


@function_tool
def get_weather(city: str, days: int) -> str:
    """The weather forecast for a city.

    Args:
        city: The city.
        days: How many days ahead.
    """
    return f"{days} day(s) of sun in {city}"


def agent(client: AsyncOpenAI, *, websocket: bool = False) -> Agent[Any]:
    model_type = OpenAIResponsesWSModel if websocket else OpenAIResponsesModel
    return Agent(
        name="assistant",
        instructions="You are terse.",
        model=model_type("gpt-5", client),
        tools=[get_weather],
    )


async def test_runner_run_text(emulator: Emulator, client: AsyncOpenAI) -> None:
    result = await Runner.run(agent(client), "hello agents", run_config=NO_TRACING)
    assert result.final_output == "You said: hello agents"
    body = emulator.responses.requests[0].body
    assert body["instructions"] == "You are terse."
    assert "type" not in body["input"][0]  # the SDK sends bare messages
    validate_everything_sent(emulator)


async def test_runner_run_with_a_function_tool(emulator: Emulator, client: AsyncOpenAI) -> None:
    result = await Runner.run(agent(client), "use get_weather for 'Quito'", run_config=NO_TRACING)
    assert result.final_output == "The get_weather tool returned: 1 day(s) of sun in Quito"
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert len(emulator.responses.requests) == 2
    validate_everything_sent(emulator)


async def test_runner_run_streamed_with_a_function_tool(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    result = Runner.run_streamed(
        agent(client), "please use get_weather for 'Accra'", run_config=NO_TRACING
    )
    deltas: list[str] = []
    items: list[str] = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
        elif event.type == "run_item_stream_event":
            items.append(event.name)
    expected = "The get_weather tool returned: 1 day(s) of sun in Accra"
    assert result.final_output == expected == "".join(deltas)
    assert items == ["tool_called", "tool_output", "message_output_created"]
    assert all(r.body.get("stream") is True for r in emulator.responses.requests)
    validate_everything_sent(emulator)


async def test_runner_over_the_responses_websocket(emulator: Emulator, client: AsyncOpenAI) -> None:
    model_agent = agent(client, websocket=True)
    try:
        result = await Runner.run(model_agent, "use get_weather for 'Oslo'", run_config=NO_TRACING)
    finally:
        model = model_agent.model
        assert isinstance(model, OpenAIResponsesWSModel)
        await model.close()
    assert result.final_output == "The get_weather tool returned: 1 day(s) of sun in Oslo"
    assert emulator.responses.stats.handshakes >= 1
    assert {r.transport for r in emulator.responses.requests} == {"websocket"}
    validate_everything_sent(emulator)


async def _events_until(
    session: RealtimeSession, wanted: str, seen: list[Any]
) -> AsyncIterator[Any]:
    async with asyncio.timeout(WAIT_S):
        async for event in session:
            seen.append(event)
            yield event
            if event.type == wanted:
                return


async def test_realtime_runner_calls_a_tool_and_speaks(emulator: Emulator) -> None:
    voice_agent = RealtimeAgent(name="voice", instructions="Talk.", tools=[get_weather])
    runner = RealtimeRunner(voice_agent, config={"tracing_disabled": True})
    session = await runner.run(
        model_config={
            "url": f"{emulator.ws_base_url}/realtime?model=gpt-realtime",
            "api_key": "sk-conformance",
        }
    )
    seen: list[Any] = []
    async with session:
        await session.send_message("use get_weather for 'Lima'")
        outputs = [
            e.output async for e in _events_until(session, "tool_end", seen) if e.type == "tool_end"
        ]
        assert outputs == ["1 day(s) of sun in Lima"]
        spoken = "The get_weather tool returned: 1 day(s) of sun in Lima"
        transcripts: list[str] = []
        async with asyncio.timeout(WAIT_S):
            async for event in session:  # until the spoken answer is in the history
                seen.append(event)
                if event.type == "history_updated":
                    transcripts = [
                        str(getattr(part, "transcript", ""))
                        for item in event.history
                        for part in getattr(item, "content", [])
                    ]
                    if spoken in transcripts:
                        break
        assert spoken in transcripts
    assert any(e.type == "audio" for e in seen)
    assert validate_every_socket(emulator) > 20


async def test_realtime_runner_attaches_to_an_accepted_sip_call(
    emulator: Emulator, client: AsyncOpenAI
) -> None:
    call = emulator.incoming_sip_call()
    await client.realtime.calls.accept(call.call_id, type="realtime", model="gpt-realtime")
    voice_agent = RealtimeAgent(name="phone", instructions="Answer the phone.")
    runner = RealtimeRunner(
        voice_agent, model=OpenAIRealtimeSIPModel(), config={"tracing_disabled": True}
    )
    session = await runner.run(
        model_config={
            "call_id": call.call_id,
            "url": f"{emulator.ws_base_url}/realtime?call_id={call.call_id}",
            "api_key": "sk-conformance",
        }
    )
    seen: list[Any] = []
    async with session:
        await session.send_message("hello from the phone")
        async for _ in _events_until(session, "agent_end", seen):
            pass
    assert call.output_audio_bytes > 0
    assert emulator.sessions[0].call_id == call.call_id
    validate_every_socket(emulator)

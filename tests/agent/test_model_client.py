"""ModelClient against the Responses emulator on loopback: preconnect, reuse, fallback."""

from __future__ import annotations

import contextlib
import json
import logging

import aiohttp
import pytest

from realtalk import AgentError, TransportClosedError
from realtalk.agent import ModelClient, ModelClientSession, Prompt, StreamItem, StreamRetry
from realtalk.agent._model_session import backoff_delay
from realtalk.emulator import ResponsesOptions
from realtalk.protocol.responses import (
    ERR_CLOSED_BY_SERVER,
    ERR_STREAM_CLOSED,
    FALLBACK_WARNING,
    RESPONSES_WEBSOCKETS_BETA,
    PreconnectState,
    ResponseCompleted,
    function_call_output,
    history_item,
    user_message,
)

from ._responses_support import API_KEY, WAIT_S, model_client, prompt, responses_server


async def run_stream(session: ModelClientSession, request: Prompt) -> list[StreamItem]:
    """All items of one ``stream`` call."""
    items: list[StreamItem] = []
    async with contextlib.aclosing(session.stream(request)) as events:
        async for item in events:
            items.append(item)
    return items


def state_of(client: ModelClient) -> PreconnectState:
    """The slot state (a function call, so mypy does not narrow it between steps)."""
    return client.preconnect_state


def retries_of(items: list[StreamItem]) -> list[str]:
    return [i.message for i in items if isinstance(i, StreamRetry)]


async def test_preconnect_happens_at_session_start_and_first_turn_reuses_it() -> None:
    async with responses_server() as (emu, base), model_client(base) as client:
        await client.pre_establish_connection()
        assert await emu.wait_for_handshakes(1, WAIT_S)
        assert await client.wait_for_preconnect(WAIT_S)
        assert state_of(client) is PreconnectState.READY
        assert emu.stats.websocket_requests == 0  # handshake only: no request payload

        async with client.new_session() as session:
            result = await session.complete(prompt("hello"))
        assert result.response_id == "resp-1"
        assert emu.stats.handshakes == 1
        assert emu.stats.websocket_requests == 1
        assert state_of(client) is PreconnectState.IDLE

        headers = emu.handshakes[0].headers
        assert headers["openai-beta"] == RESPONSES_WEBSOCKETS_BETA
        assert headers["authorization"] == f"Bearer {API_KEY}"
        assert headers["session_id"] == "sess-1"
        assert "x-codex-turn-state" not in headers
        body = emu.requests[0].body
        assert body["type"] == "response.create"
        assert body["model"] == "test-model" and body["stream"] is True
        assert body["input"] == [user_message("hello")]
        assert body["prompt_cache_key"] == "sess-1"


async def test_first_turn_waits_for_in_flight_preconnect() -> None:
    async with (
        responses_server(ResponsesOptions(handshake_latency_ms=150)) as (emu, base),
        model_client(base) as client,
    ):
        await client.pre_establish_connection()
        assert state_of(client) is PreconnectState.IN_FLIGHT
        async with client.new_session() as session:
            await session.complete(prompt("hi"))
        assert emu.stats.handshakes == 1
        assert emu.stats.websocket_requests == 1


async def test_failed_preconnect_is_not_fatal_and_uses_no_retry() -> None:
    async with (
        responses_server(ResponsesOptions(fail_handshakes=1)) as (emu, base),
        model_client(base) as client,
    ):
        await client.pre_establish_connection()
        assert not await client.wait_for_preconnect(WAIT_S)
        async with client.new_session() as session:
            items = await run_stream(session, prompt("hi"))
        assert retries_of(items) == []
        assert isinstance(items[-1], ResponseCompleted)
        assert (emu.stats.handshakes, emu.stats.failed_handshakes) == (2, 1)


async def test_fallback_after_retries_counts_attempts_and_clears_preconnect() -> None:
    async with (
        responses_server(ResponsesOptions(fail_handshakes=1000)) as (emu, base),
        model_client(base, stream_max_retries=2) as client,
    ):
        await client.pre_establish_connection()
        assert not await client.wait_for_preconnect(WAIT_S)
        async with client.new_session() as session:
            items = await run_stream(session, prompt("hi"))
        assert isinstance(items[-1], ResponseCompleted)
        messages = retries_of(items)
        assert messages[:2] == ["Reconnecting... 1/2", "Reconnecting... 2/2"]
        assert len(messages) == 3 and messages[2].startswith(FALLBACK_WARNING)
        assert "HTTP 500" in messages[2] and API_KEY not in messages[2]
        # 1 startup preconnect + (1 + stream_max_retries) turn handshakes, then HTTP.
        assert emu.stats.handshakes == 4
        assert (emu.stats.websocket_requests, emu.stats.http_requests) == (0, 1)
        assert client.uses_http
        assert state_of(client) is PreconnectState.IDLE
        http = emu.requests[0]
        assert http.headers["accept"] == "text/event-stream"
        assert http.headers["session_id"] == "sess-1"
        assert "type" not in http.body and http.body["input"] == [user_message("hi")]


async def test_fallback_is_sticky_across_turns() -> None:
    async with (
        responses_server(ResponsesOptions(fail_handshakes=1000)) as (emu, base),
        model_client(base, stream_max_retries=2) as client,
    ):
        await client.pre_establish_connection()
        for text in ("one", "two"):
            async with client.new_session() as session:
                await session.complete(prompt(text))
        assert emu.stats.handshakes == 4
        assert emu.stats.http_requests == 2


async def test_fallback_drops_a_warmed_socket() -> None:
    async with responses_server() as (emu, base), model_client(base) as client:
        await client.pre_establish_connection()
        assert await client.wait_for_preconnect(WAIT_S)
        assert client._switch_to_http(RuntimeError("test"))
        assert not client._switch_to_http(RuntimeError("again"))  # first caller wins
        assert state_of(client) is PreconnectState.IDLE
        async with client.new_session() as session:
            await session.complete(prompt("hi"))
        assert (emu.stats.handshakes, emu.stats.http_requests) == (1, 1)


@pytest.mark.parametrize("preconnect", [True, False])
async def test_upgrade_required_falls_back_at_once(*, preconnect: bool) -> None:
    async with (
        responses_server(ResponsesOptions(refuse_upgrade_426=True)) as (emu, base),
        model_client(base, stream_max_retries=5) as client,
    ):
        if preconnect:
            await client.pre_establish_connection()
            assert not await client.wait_for_preconnect(WAIT_S)
            assert client.uses_http
        async with client.new_session() as session:
            items = await run_stream(session, prompt("hi"))
        assert not any(m.startswith("Reconnecting") for m in retries_of(items))
        assert (emu.stats.handshakes, emu.stats.http_requests) == (1, 1)
        assert emu.handshakes[0].status == 426


async def test_incremental_request_within_a_turn_uses_previous_response_id() -> None:
    async with responses_server() as (emu, base), model_client(base) as client:
        async with client.new_session() as session:
            first = await session.complete(prompt("run `echo hi`"))
            (call_item,) = first.items
            thread = [user_message("run `echo hi`"), history_item(call_item)]
            thread.append(function_call_output(call_item["call_id"], "Output:\nhi"))
            second = await session.complete(prompt(thread))
            # Not a prefix of the last input: a full request.
            await session.complete(prompt("something else"))
        assert emu.stats.handshakes == 1
        bodies = [r.body for r in emu.requests]
        assert "previous_response_id" not in bodies[0]
        assert bodies[1]["type"] == "response.create"
        assert bodies[1]["previous_response_id"] == first.response_id == "resp-1"
        assert bodies[1]["input"] == thread[1:]
        assert "previous_response_id" not in bodies[2]
        assert bodies[2]["input"] == [user_message("something else")]
        (answer,) = second.items
        assert answer["content"][0]["text"] == "I ran `echo hi`. It printed: hi"


async def test_turn_state_is_sticky_within_a_turn_over_http() -> None:
    async with (
        responses_server() as (emu, base),
        model_client(base, websockets_enabled=False) as client,
    ):
        async with client.new_session() as session:
            await session.complete(prompt("one"))
            await session.complete(prompt("two"))
            assert session.turn_state == "ts-1"
        async with client.new_session() as session:
            await session.complete(prompt("three"))
        states = [r.headers.get("x-codex-turn-state") for r in emu.requests]
        assert states == [None, "ts-1", None]
        assert emu.stats.handshakes == 0


async def test_turn_state_from_preconnect_is_replayed_on_reconnect_and_not_next_turn() -> None:
    options = ResponsesOptions(close_after_completed=True)
    async with responses_server(options) as (emu, base), model_client(base) as client:
        await client.pre_establish_connection()
        assert await client.wait_for_preconnect(WAIT_S)
        async with client.new_session() as session:
            first = await session.complete(prompt("one"))
            thread = [user_message("one"), *map(history_item, first.items), user_message("more")]
            second = await session.complete(prompt(thread))
            assert session.turn_state == "ts-1"
        assert second.items
        async with client.new_session() as session:
            await session.complete(prompt("next turn"))
        handshakes, requests = emu.handshakes, emu.requests
        assert handshakes[0].headers.get("x-codex-turn-state") is None  # the preconnect
        assert requests[0].handshake == 1  # the first turn adopted the preconnected socket
        # Every reconnect of the first turn replays the token its preconnect captured.
        second_handshake = requests[1].handshake
        assert second_handshake is not None and second_handshake > 1
        reconnects = handshakes[1:second_handshake]
        assert all(h.headers.get("x-codex-turn-state") == "ts-1" for h in reconnects)
        # The next turn starts without a token.
        next_turn = requests[2].handshake
        assert next_turn is not None and next_turn > second_handshake
        assert handshakes[next_turn - 1].headers.get("x-codex-turn-state") is None
        # After a reconnect the bookkeeping is reset: full request, no previous id.
        second_body = emu.requests[1].body
        assert "previous_response_id" not in second_body
        assert second_body["input"] == thread


async def test_close_before_completed_errors_then_fails_over_http() -> None:
    async with (
        responses_server(ResponsesOptions(close_before_completed=True)) as (emu, base),
        model_client(base, stream_max_retries=0) as client,
    ):
        async with client.new_session() as session:
            items: list[StreamItem] = []
            with pytest.raises(TransportClosedError, match=ERR_STREAM_CLOSED):
                async with contextlib.aclosing(session.stream(prompt("hi"))) as events:
                    async for item in events:
                        items.append(item)
        assert retries_of(items) == [f"{FALLBACK_WARNING} {ERR_CLOSED_BY_SERVER}"]
        assert (emu.stats.websocket_requests, emu.stats.http_requests) == (1, 1)


async def test_aclose_cancels_preconnect_and_is_idempotent() -> None:
    async with (
        responses_server(ResponsesOptions(handshake_latency_ms=200)) as (emu, base),
        model_client(base) as client,
    ):
        await client.pre_establish_connection()
        assert await emu.wait_for_handshakes(1, WAIT_S)
        await client.aclose()
        assert state_of(client) is PreconnectState.IDLE
        await client.aclose()
        with pytest.raises(AgentError, match="closed"):
            client.new_session()
        assert not client._tasks


async def test_session_is_single_flight_and_not_reusable_after_close() -> None:
    async with responses_server() as (_, base), model_client(base) as client:
        session = client.new_session()
        await session.aclose()
        with pytest.raises(AgentError, match="closed"):
            await session.complete(prompt("hi"))


def test_backoff_schedule() -> None:
    assert backoff_delay(1, base_s=0.2, rng=lambda: 0.0) == pytest.approx(0.18)
    assert backoff_delay(2, base_s=0.2, rng=lambda: 0.5) == pytest.approx(0.4)
    assert backoff_delay(3, base_s=0.2, rng=lambda: 0.999999) < 0.8 * 1.1
    assert backoff_delay(3, base_s=0.2, rng=lambda: 0.999999) > 0.8 * 1.09


async def test_stats_endpoint_serves_counts() -> None:
    async with responses_server() as (emu, base), model_client(base) as client:
        assert not await emu.wait_for_handshakes(1, 0.05)
        await client.pre_establish_connection()
        assert await client.wait_for_preconnect(WAIT_S)
        async with aiohttp.ClientSession() as http:
            origin = base.removesuffix("/v1")
            async with http.get(f"{origin}/_emulator/stats") as resp:
                stats = json.loads(await resp.text())
        assert stats == {
            "handshakes": 1,
            "failed_handshakes": 0,
            "websocket_requests": 0,
            "http_requests": 0,
        }


async def test_api_key_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        responses_server(ResponsesOptions(fail_handshakes=1)) as (emu, base),
        model_client(base, stream_max_retries=1) as client,
    ):
        async with client.new_session() as session:
            await session.complete(prompt("hi"))
        assert emu.stats.handshakes == 2
    assert "'Authorization': '[redacted]'" in caplog.text  # the handshake headers were logged
    assert API_KEY not in caplog.text

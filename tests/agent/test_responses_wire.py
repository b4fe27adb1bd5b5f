"""Pure Responses wire code: requests, incremental planning, items, events, SSE."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtalk import ConfigError, ProtocolError
from realtalk.protocol.responses import (
    RESPONSES_WEBSOCKETS_BETA,
    TURN_STATE_HEADER,
    ErrorEvent,
    OutputItemDone,
    OutputTextDelta,
    ResponseCompleted,
    ResponseCreated,
    ResponseInfo,
    ResponsesEvent,
    SseMessage,
    SseParser,
    as_function_call,
    assistant_message,
    build_request,
    decode_event,
    decode_http_request,
    decode_ws_request,
    encode_event,
    encode_http_request,
    encode_sse,
    encode_ws_request,
    function_call,
    function_call_output,
    history_item,
    message_text,
    plan_request,
    responses_url,
    user_message,
    websocket_url,
)


def test_wire_constants() -> None:
    assert RESPONSES_WEBSOCKETS_BETA == "responses_websockets=2026-02-06"
    assert TURN_STATE_HEADER == "x-codex-turn-state"


@pytest.mark.parametrize(
    ("base", "ws"),
    [
        ("https://api.openai.com/v1", "wss://api.openai.com/v1/responses"),
        ("http://127.0.0.1:9/v1/", "ws://127.0.0.1:9/v1/responses"),
        ("wss://x/backend-api/codex", "wss://x/backend-api/codex/responses"),
        ("ws://x", "ws://x/responses"),
    ],
)
def test_urls(base: str, ws: str) -> None:
    assert websocket_url(responses_url(base)) == ws


def test_bad_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http"):
        websocket_url("ftp://x/responses")


def test_request_fields_and_forms() -> None:
    body = build_request(
        model="m",
        instructions="i",
        input=[user_message("hi")],
        tools=[{"type": "function", "name": "shell"}],
        prompt_cache_key="sess",
    )
    ws = json.loads(encode_ws_request(body))
    assert list(ws) == [
        "type",
        "model",
        "instructions",
        "input",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "store",
        "stream",
        "include",
        "prompt_cache_key",
    ]
    assert ws["type"] == "response.create"
    assert (ws["tool_choice"], ws["parallel_tool_calls"], ws["store"], ws["stream"]) == (
        "auto",
        True,
        False,
        True,
    )
    assert ws["include"] == []
    http = json.loads(encode_http_request(body))
    assert "type" not in http
    assert {k: v for k, v in ws.items() if k != "type"} == http
    assert decode_ws_request(encode_ws_request(body)).input == [user_message("hi")]
    assert decode_http_request(encode_http_request(body)).model == "m"


def test_reasoning_brings_include_and_previous_id_is_sent_when_set() -> None:
    body = build_request(
        model="m",
        instructions="i",
        input=[],
        tools=[],
        prompt_cache_key="k",
        previous_response_id="resp-1",
        reasoning={"effort": "medium", "summary": "auto"},
    )
    ws = json.loads(encode_ws_request(body))
    assert ws["previous_response_id"] == "resp-1"
    assert ws["include"] == ["reasoning.encrypted_content"]


def test_invalid_request_frames_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        decode_ws_request(b'{"type":"response.append","input":[]}')
    with pytest.raises(ProtocolError):
        decode_http_request(b"not json")


U1, U2 = user_message("one"), user_message("two")
CALL = function_call(call_id="c1", name="shell", arguments="{}")
OUT = function_call_output("c1", "ok")


@pytest.mark.parametrize(
    ("last_input", "last_id", "new", "expected"),
    [
        ([U1], "resp-1", [U1, CALL, OUT], ("resp-1", [CALL, OUT])),
        ([U1], None, [U1, CALL, OUT], (None, [U1, CALL, OUT])),
        ([U1], "", [U1, U2], (None, [U1, U2])),
        (None, "resp-1", [U1], (None, [U1])),
        ([], "resp-1", [U1], (None, [U1])),
        ([U1], "resp-1", [U1], (None, [U1])),
        ([U1, U2], "resp-1", [U2, U1, OUT], (None, [U2, U1, OUT])),
        ([U1, U2], "resp-1", [U1], (None, [U1])),
    ],
)
def test_plan_request(
    last_input: list[dict[str, object]] | None,
    last_id: str | None,
    new: list[dict[str, object]],
    expected: tuple[str | None, list[dict[str, object]]],
) -> None:
    plan = plan_request(new, last_input=last_input, last_response_id=last_id)
    assert (plan.previous_response_id, plan.input) == expected


def test_items() -> None:
    assert message_text(user_message("hi"), role="user") == "hi"
    assert message_text(user_message("hi"), role="assistant") is None
    reply = assistant_message("hello", item_id="msg_1")
    assert message_text(reply, role="assistant") == "hello"
    assert history_item(reply) == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "hello"}],
    }
    call = function_call(call_id="c", name="shell", arguments='{"command":["ls"]}', item_id="fc")
    parsed = as_function_call(call)
    assert parsed is not None and (parsed.call_id, parsed.name) == ("c", "shell")
    assert "id" not in history_item(call)
    reasoning = {"type": "reasoning", "id": "rs_1", "encrypted_content": "x"}
    assert history_item(reasoning) == reasoning
    assert as_function_call(OUT) is None
    assert as_function_call({"type": "function_call", "name": "x"}) is None


def test_events_decode_and_unknown_or_malformed_are_none() -> None:
    done = OutputItemDone(item=assistant_message("hi", item_id="m"), output_index=0)
    assert decode_event(encode_event(done)) == done
    completed = decode_event(b'{"type":"response.completed","response":{"id":"resp-9"}}')
    assert isinstance(completed, ResponseCompleted) and completed.response.id == "resp-9"
    delta = decode_event('{"type":"response.output_text.delta","delta":"a","extra":1}')
    assert delta == OutputTextDelta(delta="a")
    assert decode_event(b'{"type":"response.some_future_event","x":1}') is None
    assert decode_event(b'{"type":"response.output_text.delta"}') is None
    assert decode_event(b"{not json") is None
    err = decode_event(b'{"type":"error","status":429,"error":{"message":"slow down"}}')
    assert isinstance(err, ErrorEvent) and err.status == 429


def test_encode_sse() -> None:
    event = ResponseCreated(response=ResponseInfo(id="r"))
    raw = encode_sse(event)
    assert raw.startswith(b"event: response.created\ndata: {")
    assert raw.endswith(b"\n\n")
    (message,) = SseParser().feed(raw)
    assert message.event == "response.created"
    assert decode_event(message.data) == event


# -- SSE parser -------------------------------------------------------------------------


def test_sse_field_rules() -> None:
    stream = (
        b"\xef\xbb\xbf: a comment\n"
        b"event: first\n"
        b"data: line one\n"
        b"data:line two\n"
        b"id: 7\n"
        b"retry: 100\n"
        b"\n"
        b"event: ignored-no-data\n"
        b"\n"
        b"data\n"
        b"\n"
        b"data: unterminated"
    )
    parser = SseParser()
    assert parser.feed(stream) == [
        SseMessage("first", "line one\nline two", "7"),
        SseMessage("message", "", "7"),
    ]


def test_sse_crlf_split_across_chunks_counts_once() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\r") == [SseMessage("message", "a", None)]
    assert parser.feed(b"\ndata: b\n\n") == [SseMessage("message", "b", None)]


def test_sse_lone_cr_terminates_lines() -> None:
    assert SseParser().feed(b"data: x\r\rdata: y\r\r") == [
        SseMessage("message", "x", None),
        SseMessage("message", "y", None),
    ]


def test_sse_multibyte_character_split() -> None:
    raw = "data: héllo ✓\n\n".encode()
    parser = SseParser()
    out = []
    for i in range(len(raw)):
        out += parser.feed(raw[i : i + 1])
    assert out == [SseMessage("message", "héllo ✓", None)]


def test_sse_size_limit() -> None:
    parser = SseParser(max_event_bytes=64)
    with pytest.raises(ProtocolError):
        parser.feed(b"data: " + b"x" * 100)
    parser = SseParser(max_event_bytes=64)
    with pytest.raises(ProtocolError):
        parser.feed(b"".join(b"data: " + b"y" * 30 + b"\n" for _ in range(4)))


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"),
    max_size=30,
)


@given(
    events=st.lists(
        st.tuples(
            st.from_regex(r"[a-z][a-z._]{0,20}", fullmatch=True),
            st.lists(_text, min_size=1, max_size=3),
        ),
        max_size=6,
    ),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_sse_any_chunking_gives_the_same_messages(
    events: list[tuple[str, list[str]]], eol: bytes, cuts: list[int]
) -> None:
    raw = b""
    for name, lines in events:
        raw += b"event: " + name.encode() + eol
        for line in lines:
            raw += b"data: " + line.encode() + eol
        raw += eol
    expected = [SseMessage(name, "\n".join(lines), None) for name, lines in events]
    bounds = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    parser = SseParser()
    got: list[SseMessage] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        got += parser.feed(raw[start:end])
    assert got == expected


def test_sse_stream_of_responses_events_roundtrip() -> None:
    events: list[ResponsesEvent] = [
        ResponseCreated(response=ResponseInfo(id="r1")),
        OutputTextDelta(delta="multi\nline"),
        ResponseCompleted(response=ResponseInfo(id="r1")),
    ]
    raw = b"".join(encode_sse(e) for e in events)
    parser = SseParser()
    decoded = [decode_event(m.data) for i in range(len(raw)) for m in parser.feed(raw[i : i + 1])]
    assert decoded == events
    assert msgspec.json.decode(encode_event(events[1]))["delta"] == "multi\nline"

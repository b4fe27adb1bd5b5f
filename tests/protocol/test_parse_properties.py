"""Property tests: the parser never raises, and its typed fast path matches a plain
dict-walking restatement of reference 2.4 on arbitrary (often malformed) events,
including events nested far deeper than the decoder accepts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtalk.protocol import (
    FRAME_TOO_DEEP,
    MAX_JSON_DEPTH,
    ErrorEvent,
    RealtimeEvent,
    ResponseDone,
    ServerEventParser,
    Version,
)

from ._parse_oracle import oracle

PARSERS = {version: ServerEventParser(version) for version in Version}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

TYPES = [
    "session.updated",
    "error",
    "conversation.output_audio.delta",
    "response.output_audio.delta",
    "response.audio.delta",
    "conversation.input_transcript.delta",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "conversation.input_transcript.turn_marked",
    "conversation.output_transcript.delta",
    "response.output_text.delta",
    "response.output_audio_transcript.delta",
    "response.output_audio_transcript.done",
    "response.output_text.done",
    "input_audio_buffer.speech_started",
    "conversation.item.added",
    "conversation.item.created",
    "conversation.item.done",
    "conversation.handoff.requested",
    "response.created",
    "response.cancelled",
    "response.done",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "output_audio_buffer.cleared",
    "rate_limits.updated",
]
small_ints = st.sampled_from([0, 1, 2, 24000, 48000, 65535, 65536, 2**32 - 1, 2**32, -1])
strings = st.sampled_from(["", "  ", "x", "AQID", "call_1", "item_1"])
scalars = st.one_of(
    st.none(), st.booleans(), small_ints, strings, st.floats(allow_nan=False, allow_infinity=False)
)
arguments = st.one_of(
    strings,
    st.dictionaries(
        st.sampled_from(["input_transcript", "input", "text", "prompt", "query", "z"]),
        scalars,
        max_size=3,
    ).map(json.dumps),
)
objects = st.fixed_dictionaries(
    {},
    optional={
        "id": scalars,
        "call_id": scalars,
        "type": st.sampled_from(["function_call", "message", 3]),
        "name": st.sampled_from(["background_agent", "remain_silent", "shell", None]),
        "arguments": st.one_of(arguments, scalars),
        "instructions": scalars,
        "message": scalars,
        "code": scalars,
        "event_id": scalars,
        "status": st.sampled_from(["completed", "cancelled", "failed", 3, None]),
    },
)
small_json = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=2) | st.dictionaries(strings, c, max_size=2),
    max_leaves=4,
)
field_values = st.one_of(scalars, objects, small_json)
FIELDS = [
    "delta",
    "data",
    "sample_rate",
    "channels",
    "num_channels",
    "samples_per_channel",
    "item_id",
    "transcript",
    "text",
    "item",
    "handoff_id",
    "input_transcript",
    "response",
    "response_id",
    "message",
    "error",
    "session",
    "status",
]
events = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)}, optional={name: field_values for name in FIELDS}
)


class _FormattingHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


@contextmanager
def debug_logging() -> Iterator[None]:
    """Exercise the debug diagnostics path (and its message formatting) too."""
    log = logging.getLogger("realtalk.protocol._codec")
    handler = _FormattingHandler()
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)


@settings(max_examples=300)
@given(st.one_of(json_values, events))
def test_parse_never_raises_on_json_values(value: Any) -> None:
    text = json.dumps(value)
    with debug_logging():
        for parser in PARSERS.values():
            parser.parse(text)
            parser.parse(text.encode())


def _strict_json(data: str | bytes) -> Any:
    """The JSON value of ``data``, or ``_NOT_JSON`` (NaN/Infinity are not JSON)."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(data, parse_constant=refuse)
    except (ValueError, RecursionError):
        return _NOT_JSON


_NOT_JSON = object()


def expected_parse(data: str | bytes, version: Version) -> RealtimeEvent | None:
    value = _strict_json(data)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return oracle(value, version)
    return None


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=64), st.text(max_size=64)))
def test_parse_and_parse_binary_never_raise_on_garbage(data: bytes | str) -> None:
    with debug_logging():
        for version, parser in PARSERS.items():
            assert parser.parse(data) == expected_parse(data, version)
            raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
            assert parser.parse_binary(raw) == ErrorEvent(
                "unexpected binary realtime websocket event"
            )


# --- nesting depth ------------------------------------------------------------------------


def json_depth(value: Any) -> int:
    """Nesting depth of arrays/objects (a scalar is 0, ``[]`` is 1)."""
    depth, level = 0, [(value, 1)]
    while level:
        item, d = level.pop()
        if isinstance(item, dict | list):
            depth = max(depth, d)
            children = item.values() if isinstance(item, dict) else item
            level.extend((child, d + 1) for child in children)
    return depth


def nest(leaf: Any, shape: list[bool]) -> Any:
    """Wrap ``leaf`` once per entry of ``shape``: True in an object, False in an array."""
    for as_object in shape:
        leaf = {"k": leaf} if as_object else [leaf]
    return leaf


# Strings full of brackets and quotes: they do not nest, and the depth scan must know it.
tricky_strings = st.text(alphabet='[]{}"\\ ab', max_size=40)


TOO_DEEP = "too deep"


def expected_deep(event: dict[str, Any], version: Version) -> RealtimeEvent | str | None:
    """The oracle, plus the depth rule: an event that passes server JSON on as is (an
    ``error``; an item added) is refused when the frame nests deeper than the limit."""
    kind = event["type"]
    item_added = kind == "conversation.item.added" or (
        version is Version.V2 and kind == "conversation.item.created"
    )
    carries_json = kind == "error" or (item_added and isinstance(event.get("item"), dict))
    if carries_json and json_depth(event) > MAX_JSON_DEPTH:
        return TOO_DEEP
    return oracle(event, version)


@settings(max_examples=300)
@given(
    events,
    # Around the limit (the event object and its fields add a level or two) and anywhere.
    st.one_of(
        st.integers(MAX_JSON_DEPTH - 4, MAX_JSON_DEPTH + 2), st.integers(0, 2 * MAX_JSON_DEPTH)
    ).flatmap(lambda n: st.lists(st.booleans(), min_size=n, max_size=n)),
    st.sampled_from([*FIELDS, "junk"]),
    st.one_of(scalars, tricky_strings),
)
def test_deep_events_are_refused_and_the_rest_parsed_as_the_reference(
    event: dict[str, Any], shape: list[bool], field: str, leaf: Any
) -> None:
    event = {**event, field: nest(leaf, shape)}
    text = json.dumps(event)
    for version, parser in PARSERS.items():
        result = parser.parse(text)
        expected = expected_deep(event, version)
        if expected == TOO_DEEP:
            assert isinstance(result, ErrorEvent) and result.code == FRAME_TOO_DEEP, text
        else:
            assert result == expected, (version, text)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"error","error":{"message":"m","param":%s}}',
        '{"type":"conversation.item.added","item":{"id":"i","content":%s}}',
        '{"type":"conversation.item.created","item":{"id":"i","content":%s}}',
        '{"type":"conversation.item.added","item":{"id":"i"},"junk":{"k":%s}}',
    ],
)
@pytest.mark.parametrize("nesting", ["[%s]", '{"k":%s}'])
def test_the_depth_limit_is_exact(frame: str, nesting: str) -> None:
    # The frame's own object and the field's parent take two levels.
    for depth, refused in ((MAX_JSON_DEPTH, False), (MAX_JSON_DEPTH + 1, True)):
        value = "1"
        for _ in range(depth - 2):
            value = nesting % value
        text = frame % value
        result = PARSERS[Version.V2].parse(text)
        assert (isinstance(result, ErrorEvent) and result.code == FRAME_TOO_DEEP) is refused, depth


@given(st.integers(min_value=MAX_JSON_DEPTH + 1, max_value=100_000), st.sampled_from(["[", "{"]))
@settings(max_examples=40)
def test_any_depth_never_raises(depth: int, bracket: str) -> None:
    # Balanced or cut off, in a field realtalk keeps or not: never an exception. A kept
    # item nested this deep is always refused; elsewhere the frame may also be ignored
    # (cut off) or parsed with the deep value dropped (response.done keeps only ids).
    opening = '{"a":' if bracket == "{" else "["
    closing = "}" if bracket == "{" else "]"
    item = '{"type":"conversation.item.added","item":'
    response = '{"type":"response.done","response":'
    for prefix in (item, response):
        balanced = prefix + opening * depth + "1" + closing * depth + "}"
        for text in (prefix + opening * depth, balanced):
            for parser in PARSERS.values():
                result = parser.parse(text)
                refused = isinstance(result, ErrorEvent) and result.code == FRAME_TOO_DEEP
                assert result is None or refused or isinstance(result, ResponseDone)
                if prefix is item and bracket == "{" and text is balanced:
                    assert refused


@settings(max_examples=500)
@given(events)
def test_parser_matches_reference_restatement(event: dict[str, Any]) -> None:
    text = json.dumps(event)
    for version, parser in PARSERS.items():
        expected = oracle(event, version)
        assert parser.parse(text) == expected, (version, text)

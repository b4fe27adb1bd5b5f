"""Deeply nested JSON is an error answer, never an exception (msgspec recurses)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from realtalk.protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    ParamsError,
    RpcFailure,
    decode_params,
    parse_message,
)

DEPTH = 3000  # about 6 KB, far past the interpreter's recursion limit


def _nested(depth: int = DEPTH) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    "frame",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":' + _nested() + b"}",
        b'{"id":1,"method":"x","params":{"a":' + _nested() + b"}}",
        b'{"result":' + _nested() + b',"id":3}',
    ],
)
def test_deeply_nested_frame_is_a_parse_error(frame: bytes) -> None:
    message = parse_message(frame)
    assert isinstance(message, RpcFailure)
    assert message.id is None
    assert message.error.code == PARSE_ERROR
    assert "nested too deeply" in message.error.message


def test_deeply_nested_frame_with_a_bad_id_is_an_invalid_request() -> None:
    # The id fails typed decoding first; recovering it from the whole frame recurses.
    message = parse_message(b'{"id":1.5,"method":"x","params":' + _nested() + b"}")
    assert isinstance(message, RpcFailure)
    assert (message.id, message.error.code) == (None, INVALID_REQUEST)


def test_nesting_below_the_limit_still_parses() -> None:
    message = parse_message(b'{"id":1,"method":"x","params":' + _nested(100) + b"}")
    assert not isinstance(message, RpcFailure)


class _Loose(msgspec.Struct):
    value: Any = None


def test_deeply_nested_params_are_a_params_error() -> None:
    with pytest.raises(ParamsError) as caught:
        decode_params(msgspec.Raw(b'{"value":' + _nested() + b"}"), _Loose)
    error = caught.value.to_error()
    assert error.code == INVALID_PARAMS
    assert "nested too deeply" in error.message

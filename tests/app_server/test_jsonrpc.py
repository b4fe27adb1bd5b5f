"""JSON-RPC framing and params decoding (pure, no sockets)."""

from __future__ import annotations

import msgspec
import pytest

from realtalk.app_server import (
    RealtimeTransportWebrtc,
    ThreadRealtimeAppendAudioParams,
    ThreadRealtimeStartParams,
    TurnStartParams,
)
from realtalk.protocol import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_MESSAGE_BYTES,
    PARSE_ERROR,
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    ParamsError,
    RpcErrorObject,
    RpcFailure,
    decode_params,
    encode_error,
    encode_notification,
    encode_request,
    encode_response,
    is_valid_header_value,
    parse_message,
)


def _failure(data: bytes | str) -> RpcFailure:
    message = parse_message(data)
    assert isinstance(message, RpcFailure), message
    return message


def test_request_without_jsonrpc_member() -> None:
    message = parse_message(b'{"id":7,"method":"thread/start","params":{"cwd":"/"}}')
    assert isinstance(message, IncomingRequest)
    assert (message.id, message.method) == (7, "thread/start")
    assert message.params is not None and bytes(message.params) == b'{"cwd":"/"}'


def test_jsonrpc_member_is_accepted_when_2_0_and_refused_otherwise() -> None:
    ok = parse_message('{"jsonrpc":"2.0","id":"a","method":"m"}')
    assert ok == IncomingRequest("a", "m", None)
    bad = _failure('{"jsonrpc":"1.0","id":"a","method":"m"}')
    assert bad.id == "a" and bad.error.code == INVALID_REQUEST
    assert "jsonrpc version '1.0'" in bad.error.message


def test_notification_and_response_kinds() -> None:
    assert parse_message(b'{"method":"initialized"}') == IncomingNotification("initialized")
    response = parse_message(b'{"id":3,"result":{}}')
    assert isinstance(response, IncomingResponse) and response.id == 3 and response.error is None


@pytest.mark.parametrize("data", [b"garbage", b'{"id":1,', b"\xff\xfe", b""])
def test_invalid_json_is_a_parse_error_with_null_id(data: bytes) -> None:
    failure = _failure(data)
    assert failure.error.code == PARSE_ERROR and failure.id is None
    assert failure.error.message.startswith("Parse error: ")


@pytest.mark.parametrize(
    ("data", "rid", "needle"),
    [
        (b'{"id":true,"method":"m"}', None, "`id`: expected `int | str`, got `bool`"),
        (b'{"id":1.5,"method":"m"}', None, "`id`: expected `int | str`, got `float`"),
        (b'{"id":null,"method":"m"}', None, "`id`"),
        (b'{"id":4,"method":5}', 4, "`method`: expected `str`, got `int`"),
        (b'{"id":4}', 4, "missing field `method`"),
        (b'{"id":4,"method":""}', 4, "method must not be empty"),
        (b'"just a string"', None, "expected `object`, got `str`"),
        (b"[1,2]", None, "batch requests are not supported"),
    ],
)
def test_wrong_shapes_are_invalid_requests(data: bytes, rid: int | None, needle: str) -> None:
    failure = _failure(data)
    assert failure.error.code == INVALID_REQUEST
    assert failure.id == rid
    assert failure.error.message.startswith("Invalid request: ")
    assert needle in failure.error.message


def test_oversized_message_is_refused_before_decoding() -> None:
    failure = _failure(b" " * (MAX_MESSAGE_BYTES + 1))
    assert failure.error.code == INVALID_REQUEST
    assert str(MAX_MESSAGE_BYTES) in failure.error.message


def test_params_errors_name_the_field() -> None:
    with pytest.raises(ParamsError) as missing:
        decode_params(msgspec.Raw(b"{}"), TurnStartParams)
    assert str(missing.value) == "Invalid params: missing field `threadId`"
    assert missing.value.to_error() == RpcErrorObject(
        INVALID_PARAMS, "Invalid params: missing field `threadId`", {"field": "threadId"}
    )
    with pytest.raises(ParamsError) as nested:
        decode_params(
            msgspec.Raw(b'{"threadId":"t","audio":{"data":"AA==","numChannels":1}}'),
            ThreadRealtimeAppendAudioParams,
        )
    assert nested.value.field == "audio.sampleRate"
    with pytest.raises(ParamsError) as wrong:
        decode_params(
            msgspec.Raw(b'{"threadId":"t","input":[{"type":"text","text":3}]}'), TurnStartParams
        )
    assert wrong.value.field == "input[0].text"
    assert "expected `str`, got `int`" in str(wrong.value)
    with pytest.raises(ParamsError) as not_object:
        decode_params(msgspec.Raw(b"[]"), TurnStartParams)
    assert not_object.value.field is None


def test_absent_and_null_params_decode_as_empty_object() -> None:
    with pytest.raises(ParamsError, match="missing field `threadId`"):
        decode_params(None, TurnStartParams)
    with pytest.raises(ParamsError, match="missing field `threadId`"):
        decode_params(msgspec.Raw(b"null"), TurnStartParams)


def test_realtime_start_prompt_keeps_absent_apart_from_null() -> None:
    absent = decode_params(
        msgspec.Raw(b'{"threadId":"t","outputModality":"audio"}'), ThreadRealtimeStartParams
    )
    null = decode_params(
        msgspec.Raw(b'{"threadId":"t","outputModality":"text","prompt":null}'),
        ThreadRealtimeStartParams,
    )
    assert absent.prompt is msgspec.UNSET and null.prompt is None
    webrtc = decode_params(
        msgspec.Raw(
            b'{"threadId":"t","outputModality":"audio","transport":{"type":"webrtc","sdp":"v=0"}}'
        ),
        ThreadRealtimeStartParams,
    )
    assert webrtc.transport == RealtimeTransportWebrtc("v=0")
    with pytest.raises(ParamsError) as bad:
        decode_params(
            msgspec.Raw(b'{"threadId":"t","outputModality":"video"}'), ThreadRealtimeStartParams
        )
    assert bad.value.field == "outputModality"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("codex_vscode", True),
        ("My Client 1.0", True),
        ("bad\rname", False),
        ("é", False),
        ("a\tb", True),
    ],
)
def test_header_value_validation(value: str, *, valid: bool) -> None:
    assert is_valid_header_value(value) is valid


def test_encoders_omit_jsonrpc_and_keep_null_data() -> None:
    assert encode_response(1, {}) == b'{"id":1,"result":{}}'
    assert (
        encode_error(None, RpcErrorObject(-32700, "Parse error: x"))
        == b'{"id":null,"error":{"code":-32700,"message":"Parse error: x","data":null}}'
    )
    assert encode_notification("initialized") == b'{"method":"initialized"}'
    assert encode_request("r", "m", {"a": 1}) == b'{"id":"r","method":"m","params":{"a":1}}'

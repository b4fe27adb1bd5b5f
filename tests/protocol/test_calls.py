"""Pure tests of WebRTC call creation bodies, Location parsing and the peer lifecycle table."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json

import pytest

from realtalk import ConfigError, ProtocolError, TransportError
from realtalk.protocol import (
    CALL_BOUNDARY,
    MULTIPART_CONTENT_TYPE,
    PeerInput,
    PeerState,
    PeerStateError,
    build_call_request,
    call_id_from_location,
    calls_url,
    choose_body_kind,
    decode_answer_sdp,
    encode_call_session,
    json_call_body,
    multipart_call_body,
    next_peer_state,
    server_error_message,
)

OFFER = "v=offer\r\n"
SESSION = {
    "type": "quicksilver",
    "instructions": "backend prompt\n\nstartup context",
    "id": "sess-api",
    "audio": {
        "output": {"voice": "cove"},
        "input": {"format": {"type": "audio/pcm", "rate": 24000}},
    },
}
# Reference section 3, "Example V1 session part" (sorted, compact, no id, with model).
SESSION_JSON = (
    '{"audio":{"input":{"format":{"rate":24000,"type":"audio/pcm"}},"output":{"voice":"cove"}},'
    '"instructions":"backend prompt\\n\\nstartup context","model":"gpt-realtime-1.5",'
    '"type":"quicksilver"}'
)


def test_encode_call_session_sorts_drops_id_and_adds_model() -> None:
    assert encode_call_session(SESSION, model="gpt-realtime-1.5") == SESSION_JSON


def test_encode_call_session_keeps_non_ascii_and_leaves_model_out_when_none() -> None:
    assert encode_call_session({"instructions": "héllo", "id": "x"}) == '{"instructions":"héllo"}'


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1/realtime/calls"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/realtime/calls"),
        (
            "https://chatgpt.com/backend-api/codex",
            "https://chatgpt.com/backend-api/codex/realtime/calls",
        ),
        ("http://127.0.0.1:8011", "http://127.0.0.1:8011/realtime/calls"),
        ("http://h/v1?x=1", "http://h/v1/realtime/calls?x=1"),
    ],
)
def test_calls_url(base: str, url: str) -> None:
    assert calls_url(base) == url


def test_multipart_body_is_byte_exact() -> None:
    expected = (
        b"--codex-realtime-call-boundary\r\n"
        b'Content-Disposition: form-data; name="sdp"\r\n'
        b"Content-Type: application/sdp\r\n"
        b"\r\n"
        b"v=offer\r\n"
        b"\r\n"
        b"--codex-realtime-call-boundary\r\n"
        b'Content-Disposition: form-data; name="session"\r\n'
        b"Content-Type: application/json\r\n"
        b"\r\n" + SESSION_JSON.encode() + b"\r\n"
        b"--codex-realtime-call-boundary--\r\n"
    )
    assert multipart_call_body(OFFER, SESSION_JSON) == expected
    assert MULTIPART_CONTENT_TYPE == "multipart/form-data; boundary=codex-realtime-call-boundary"
    assert CALL_BOUNDARY == "codex-realtime-call-boundary"


def test_multipart_body_parses_as_two_form_fields() -> None:
    raw = f"Content-Type: {MULTIPART_CONTENT_TYPE}\r\n\r\n".encode() + multipart_call_body(
        OFFER, SESSION_JSON
    )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = {
        part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
    }
    assert list(parts) == ["sdp", "session"]
    assert parts["sdp"].get_content_type() == "application/sdp"
    assert json.loads(str(parts["session"].get_payload())) == json.loads(SESSION_JSON)


def test_json_body_embeds_session_object_sorted() -> None:
    body = json_call_body(OFFER, '{"type":"realtime","b":{"z":1,"a":2}}')
    assert body == b'{"sdp":"v=offer\\r\\n","session":{"b":{"a":2,"z":1},"type":"realtime"}}'


def test_json_body_rejects_non_object_session() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        json_call_body(OFFER, "[1]")


@pytest.mark.parametrize(
    ("base", "has_session", "kind"),
    [
        ("https://api.openai.com/v1", True, "multipart"),
        ("https://chatgpt.com/backend-api/codex", True, "json"),
        ("https://api.openai.com/v1", False, "sdp"),
        ("https://chatgpt.com/backend-api/codex", False, "sdp"),
    ],
)
def test_choose_body_kind(base: str, *, has_session: bool, kind: str) -> None:
    assert choose_body_kind(base, has_session=has_session) == kind


def test_build_call_request_variants() -> None:
    raw = build_call_request("https://api.openai.com/v1", OFFER)
    assert (raw.url, raw.content_type, raw.body) == (
        "https://api.openai.com/v1/realtime/calls",
        "application/sdp",
        b"v=offer\r\n",
    )
    multi = build_call_request("https://api.openai.com/v1", OFFER, session_json=SESSION_JSON)
    assert multi.content_type == MULTIPART_CONTENT_TYPE
    assert multi.body == multipart_call_body(OFFER, SESSION_JSON)
    backend = build_call_request("https://x/backend-api/codex", OFFER, session_json=SESSION_JSON)
    assert backend.content_type == "application/json"
    assert json.loads(backend.body) == {"sdp": OFFER, "session": json.loads(SESSION_JSON)}
    forced = build_call_request(
        "https://x/backend-api/codex", OFFER, session_json=SESSION_JSON, body="sdp"
    )
    assert forced.body == b"v=offer\r\n"
    with pytest.raises(ValueError, match="needs session_json"):
        build_call_request("https://api.openai.com/v1", OFFER, body="multipart")


@pytest.mark.parametrize(
    ("location", "call_id"),
    [
        ("/v1/realtime/calls/rtc_test", "rtc_test"),
        ("/v1/realtime/calls/calls/rtc_backend_test", "rtc_backend_test"),
        ("https://api.openai.com/v1/realtime/calls/rtc_abc?x=rtc_query", "rtc_abc"),
        ("/v1/realtime/calls/rtc_abc/", "rtc_abc"),
        ("/rtc_first/rtc_/other", "rtc_first"),
        ("rtc_x", "rtc_x"),
    ],
)
def test_call_id_from_location(location: str, call_id: str) -> None:
    assert call_id_from_location(location) == call_id


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (None, "realtime call response missing Location"),
        (
            "/v1/realtime/calls",
            "realtime call Location does not contain a call id: /v1/realtime/calls",
        ),
        (
            "/v1/realtime/calls/rtc_",
            "realtime call Location does not contain a call id: /v1/realtime/calls/rtc_",
        ),
        (
            "/v1/calls?id=rtc_q",
            "realtime call Location does not contain a call id: /v1/calls?id=rtc_q",
        ),
        (
            "/v1/realtime/calls/rtc_é",
            "invalid realtime call Location: failed to convert header to a str",
        ),
    ],
)
def test_call_id_from_location_errors(location: str | None, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        call_id_from_location(location)
    assert str(info.value) == message


def test_decode_answer_sdp() -> None:
    assert decode_answer_sdp(b"v=0\r\n") == "v=0\r\n"
    with pytest.raises(ProtocolError, match="^failed to decode realtime call SDP response: "):
        decode_answer_sdp(b"v=0\xff")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error":{"message":"boom","type":"server_error"}}', "boom"),
        (b'{"error":"plain"}', "plain"),
        (b'{"error":{"message":""}}', None),
        (b'{"detail":"x"}', None),
        (b"[1]", None),
        (b"not json", None),
        (b"\xff", None),
    ],
)
def test_server_error_message(body: bytes, message: str | None) -> None:
    assert server_error_message(body) == message


# The lifecycle, written out independently of the implementation's table.
_S, _I = PeerState, PeerInput
_EXPECTED = {
    (_S.NEW, _I.CREATE_OFFER): _S.OFFERED,
    (_S.NEW, _I.ACCEPT_OFFER): _S.NEGOTIATED,
    (_S.NEW, _I.FAIL): _S.FAILED,
    (_S.NEW, _I.CLOSE): _S.CLOSED,
    (_S.OFFERED, _I.ACCEPT_ANSWER): _S.NEGOTIATED,
    (_S.OFFERED, _I.FAIL): _S.FAILED,
    (_S.OFFERED, _I.CLOSE): _S.CLOSED,
    (_S.NEGOTIATED, _I.CONNECT): _S.CONNECTED,
    (_S.NEGOTIATED, _I.FAIL): _S.FAILED,
    (_S.NEGOTIATED, _I.CLOSE): _S.CLOSED,
    (_S.CONNECTED, _I.FAIL): _S.FAILED,
    (_S.CONNECTED, _I.CLOSE): _S.CLOSED,
    (_S.FAILED, _I.CLOSE): _S.CLOSED,
    (_S.CLOSED, _I.CLOSE): _S.CLOSED,
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(PeerState, PeerInput)))
def test_peer_lifecycle_table_is_exhaustive(state: PeerState, event: PeerInput) -> None:
    expected = _EXPECTED.get((state, event))
    if expected is not None:
        assert next_peer_state(state, event) is expected
    else:
        with pytest.raises(PeerStateError) as info:
            next_peer_state(state, event)
        assert isinstance(info.value, TransportError)
        assert state.value in str(info.value)
        assert event.value.replace("_", " ") in str(info.value)


def test_calls_url_rejects_unparsable_base() -> None:
    with pytest.raises(ConfigError, match="invalid realtime calls base URL"):
        calls_url("http://[::1/v1")

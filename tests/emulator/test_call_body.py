"""Server-side parsing of call-creation bodies (pure)."""

from __future__ import annotations

import pytest

from realtalk.emulator._call_body import CallBodyError, call_model_settings, parse_call_body


def test_parser_accepts_preamble_quoted_boundary_and_parts_without_type() -> None:
    body = (
        b'preamble\r\n--b1\r\nContent-Disposition: form-data; name="sdp"\r\n\r\nv=0\r\nx\r\n'
        b'--b1\r\ncontent-disposition: form-data; name="session"\r\n\r\n{"type":"realtime"}'
        b"\r\n--b1--\r\nepilogue"
    )
    parsed = parse_call_body('multipart/form-data; boundary="b1"', body)
    assert (parsed.kind, parsed.offer_sdp, parsed.session) == (
        "multipart",
        "v=0\r\nx",
        {"type": "realtime"},
    )


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/form-data", b"", "has no boundary"),
        ("multipart/form-data; boundary=b1", b"--b1\r\n\r\nx\r\n", "closing delimiter"),
        ("multipart/form-data; boundary=b1", b"nothing here", "no part delimiter"),
        (
            "multipart/form-data; boundary=b1",
            b'--b1\r\nContent-Disposition: form-data; name="session"\r\n\r\n{}\r\n--b1--\r\n',
            "Missing required parameter: 'sdp'.",
        ),
        ("application/json", b'{"sdp": "v=0", "session": [1]}', "must be a JSON object"),
        ("application/json", b"{", "not valid JSON"),
        ("application/sdp", b"\xff", "not valid UTF-8"),
    ],
)
def test_parser_rejects_malformed_bodies(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(CallBodyError, match=message):
        parse_call_body(content_type, body)


def test_session_settings_mapping() -> None:
    assert call_model_settings(None) == ("v2", "conversational", None)
    assert call_model_settings({}, query_model="q") == ("v2", "conversational", "q")
    assert call_model_settings({"type": "quicksilver", "model": "m"}) == (
        "v1",
        "conversational",
        "m",
    )
    assert call_model_settings({"type": "transcription"}) == ("v2", "transcription", None)

"""Websocket URL and handshake headers (reference 2.1, 2.2, 9.1, 9.4)."""

from __future__ import annotations

import pytest

from realtalk import ConfigError
from realtalk.protocol import Mode, Version, merge_headers, realtime_headers, realtime_ws_url

CONV = Mode.CONVERSATIONAL


def test_websocket_url_from_http_base_defaults_to_ws_path() -> None:
    url = realtime_ws_url("http://127.0.0.1:8011", version=Version.V1, mode=CONV, model=None)
    assert url == "ws://127.0.0.1:8011/v1/realtime?intent=quicksilver"


def test_websocket_url_from_ws_base_defaults_to_ws_path() -> None:
    url = realtime_ws_url(
        "wss://example.com", version=Version.V1, mode=CONV, model="realtime-test-model"
    )
    assert url == "wss://example.com/v1/realtime?intent=quicksilver&model=realtime-test-model"


def test_websocket_url_from_v1_base_appends_realtime_path() -> None:
    url = realtime_ws_url(
        "https://api.openai.com/v1", version=Version.V1, mode=CONV, model="snapshot"
    )
    assert url == "wss://api.openai.com/v1/realtime?intent=quicksilver&model=snapshot"


def test_websocket_url_from_nested_v1_base_appends_realtime_path() -> None:
    url = realtime_ws_url(
        "https://example.com/openai/v1", version=Version.V1, mode=CONV, model="snapshot"
    )
    assert url == "wss://example.com/openai/v1/realtime?intent=quicksilver&model=snapshot"


def test_websocket_url_preserves_existing_realtime_path_and_extra_query_params() -> None:
    url = realtime_ws_url(
        "https://example.com/v1/realtime?foo=bar",
        version=Version.V1,
        mode=CONV,
        model="snapshot",
        query_params={"trace": "1", "intent": "ignored"},
    )
    assert url == "wss://example.com/v1/realtime?foo=bar&intent=quicksilver&model=snapshot&trace=1"


def test_websocket_url_v1_ignores_transcription_mode() -> None:
    url = realtime_ws_url(
        "https://example.com", version=Version.V1, mode=Mode.TRANSCRIPTION, model=None
    )
    assert url == "wss://example.com/v1/realtime?intent=quicksilver"


def test_websocket_url_omits_intent_for_realtime_v2_conversational_mode() -> None:
    url = realtime_ws_url(
        "https://example.com/v1/realtime?foo=bar",
        version=Version.V2,
        mode=CONV,
        model="snapshot",
        query_params={"trace": "1", "intent": "ignored"},
    )
    assert url == "wss://example.com/v1/realtime?foo=bar&model=snapshot&trace=1"


def test_websocket_url_omits_intent_for_realtime_v2_transcription_mode() -> None:
    url = realtime_ws_url(
        "https://example.com", version=Version.V2, mode=Mode.TRANSCRIPTION, model=None
    )
    assert url == "wss://example.com/v1/realtime"


def test_websocket_url_for_call_id_joins_existing_realtime_session() -> None:
    url = realtime_ws_url(
        "https://api.openai.com/v1",
        version=Version.V2,
        mode=CONV,
        model="gpt-realtime-1.5",
        call_id="rtc_test",
    )
    assert url == "wss://api.openai.com/v1/realtime?call_id=rtc_test"


def test_websocket_url_for_call_id_v1_keeps_intent() -> None:
    url = realtime_ws_url(
        "http://127.0.0.1:9", version=Version.V1, mode=CONV, model="m", call_id="rtc_core_test"
    )
    assert url == "ws://127.0.0.1:9/v1/realtime?intent=quicksilver&call_id=rtc_core_test"


def test_websocket_url_default_start_uses_default_model() -> None:
    url = realtime_ws_url(
        "http://127.0.0.1:9/v1", version=Version.V2, mode=CONV, model="gpt-realtime-1.5"
    )
    assert url == "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime-1.5"


@pytest.mark.parametrize(
    ("base", "path"),
    [
        ("https://h", "/v1/realtime"),
        ("https://h/", "/v1/realtime"),
        ("https://h/x/realtime", "/x/realtime"),
        ("https://h/x/realtime/", "/x/realtime"),
        ("https://h/v1/", "/v1/realtime"),
        ("https://h/custom/path", "/custom/path"),
    ],
)
def test_websocket_url_path_normalisation(base: str, path: str) -> None:
    assert realtime_ws_url(base, version=Version.V2, mode=CONV, model=None) == f"wss://h{path}"


def test_provider_model_param_kept_only_without_model() -> None:
    params = {"model": "from-provider", "api-version": "2025-01-01"}
    assert realtime_ws_url(
        "https://h", version=Version.V2, mode=CONV, model=None, query_params=params
    ) == ("wss://h/v1/realtime?model=from-provider&api-version=2025-01-01")
    assert realtime_ws_url(
        "https://h", version=Version.V2, mode=CONV, model="m", query_params=params
    ) == ("wss://h/v1/realtime?model=m&api-version=2025-01-01")


def test_query_values_are_form_encoded() -> None:
    url = realtime_ws_url(
        "https://h", version=Version.V2, mode=CONV, model="a b&c", query_params={"k": "x=y"}
    )
    assert url == "wss://h/v1/realtime?model=a+b%26c&k=x%3Dy"


@pytest.mark.parametrize("base", ["ftp://example.com/v1", "file:///tmp/x"])
def test_websocket_url_rejects_unsupported_scheme(base: str) -> None:
    scheme = base.split(":", 1)[0]
    with pytest.raises(ConfigError, match=f"^unsupported realtime api_url scheme: {scheme}$"):
        realtime_ws_url(base, version=Version.V2, mode=CONV, model=None)


def test_websocket_url_rejects_relative_url() -> None:
    with pytest.raises(ConfigError, match="failed to parse realtime api_url"):
        realtime_ws_url("example.com/v1", version=Version.V2, mode=CONV, model=None)


def test_merge_request_headers_matches_http_precedence() -> None:
    merged = merge_headers(
        {"originator": "provider-originator", "x-priority": "provider"},
        {"x-priority": "extra"},
        session_id=None,
        defaults={
            "originator": "default-originator",
            "x-priority": "default",
            "x-default-only": "default-only",
        },
    )
    assert merged == {
        "originator": "provider-originator",
        "x-priority": "extra",
        "x-default-only": "default-only",
    }


def test_merge_headers_is_case_insensitive_and_session_id_wins() -> None:
    merged = merge_headers(
        {"X-Session-Id": "provider", "Authorization": "Bearer provider"},
        {"authorization": "Bearer extra", "x-session-id": "extra"},
        session_id="conv_1",
        defaults={"AUTHORIZATION": "Bearer default", "User-Agent": "realtalk"},
    )
    assert merged == {
        "x-session-id": "conv_1",
        "authorization": "Bearer extra",
        "User-Agent": "realtalk",
    }


def test_merge_headers_rejects_control_characters_without_echoing_value() -> None:
    with pytest.raises(ConfigError) as info:
        merge_headers(
            None, {"Authorization": "Bearer sk-secret\r\nX-Evil: 1"}, session_id=None, defaults=None
        )
    assert "Authorization" in str(info.value)
    assert "sk-secret" not in str(info.value)
    with pytest.raises(ConfigError, match="x-session-id"):
        merge_headers(None, None, session_id="bad\nid", defaults=None)


def test_uses_quicksilver_alpha_header_for_realtime_v1() -> None:
    assert realtime_headers(Version.V1, api_key="sk-test", session_id="conv_1") == {
        "Authorization": "Bearer sk-test",
        "x-session-id": "conv_1",
        "openai-alpha": "quicksilver=v1",
    }


def test_omits_quicksilver_alpha_header_for_realtime_v2() -> None:
    headers = realtime_headers(Version.V2, api_key="sk-test", session_id="conv_1")
    assert headers == {"Authorization": "Bearer sk-test", "x-session-id": "conv_1"}
    assert not any(name.lower() in ("openai-alpha", "openai-beta") for name in headers)


def test_realtime_headers_without_key_has_no_authorization() -> None:
    assert realtime_headers(Version.V2, api_key=None, session_id="s") == {"x-session-id": "s"}

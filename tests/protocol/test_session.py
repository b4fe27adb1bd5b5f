"""Voices, preflight, prompt rules and the WebRTC call session JSON (reference 3, 6.2)."""

from __future__ import annotations

import json

import msgspec
import pytest

from realtalk import ConfigError
from realtalk.protocol import (
    DEFAULT_BACKEND_PROMPT,
    V1_VOICES,
    V2_VOICES,
    Mode,
    OutputModality,
    SessionConfig,
    Version,
    build_instructions,
    call_session_json,
    default_voice,
    resolve_backend_prompt,
    resolve_voice,
    session_payload,
    validate_preflight,
)


def test_session_config_defaults() -> None:
    config = SessionConfig("hi")
    assert config.model == "gpt-realtime-1.5"
    assert config.version is Version.V2
    assert config.mode is Mode.CONVERSATIONAL
    assert config.output_modality is OutputModality.AUDIO
    assert config.voice is None
    assert config.session_id is None


def test_voice_lists_and_defaults() -> None:
    assert V1_VOICES == (
        "juniper",
        "maple",
        "spruce",
        "ember",
        "vale",
        "breeze",
        "arbor",
        "sol",
        "cove",
    )
    assert V2_VOICES == (
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    )
    assert default_voice(Version.V1) == "cove"
    assert default_voice(Version.V2) == "marin"


def test_resolve_voice_precedence() -> None:
    assert resolve_voice(Version.V2, "cedar", "ash") == "cedar"
    assert resolve_voice(Version.V2, None, "ash") == "ash"
    assert resolve_voice(Version.V2, None, None) == "marin"
    assert resolve_voice(Version.V1, None, None) == "cove"
    assert resolve_voice(Version.V1, "breeze", None) == "breeze"


def test_resolve_voice_rejects_voice_of_other_version() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_voice(Version.V1, "marin", None)
    assert str(info.value) == (
        "realtime voice `marin` is not supported for v1; supported voices: "
        "juniper, maple, spruce, ember, vale, breeze, arbor, sol, cove"
    )
    with pytest.raises(ConfigError) as info:
        resolve_voice(Version.V2, None, "cove")
    assert str(info.value) == (
        "realtime voice `cove` is not supported for v2; supported voices: "
        "alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar"
    )


def test_validate_preflight() -> None:
    with pytest.raises(ConfigError, match=r"^text realtime output modality requires realtime v2$"):
        validate_preflight(
            SessionConfig("p", version=Version.V1, output_modality=OutputModality.TEXT)
        )
    with pytest.raises(ConfigError, match="not supported for v2"):
        validate_preflight(SessionConfig("p", voice="cove"))
    validate_preflight(SessionConfig("p", version=Version.V2, output_modality=OutputModality.TEXT))
    validate_preflight(SessionConfig("p", version=Version.V1, voice="cove"))


def test_prepare_realtime_backend_prompt_prefers_config_override() -> None:
    assert resolve_backend_prompt("config prompt", "request prompt", "default") == "config prompt"
    assert resolve_backend_prompt("config prompt", None, "default") == "config prompt"


def test_prepare_realtime_backend_prompt_ignores_blank_config_override() -> None:
    assert resolve_backend_prompt("  \n", "request prompt", "default") == "request prompt"
    assert resolve_backend_prompt("", msgspec.UNSET, "default") == "default"


def test_prepare_realtime_backend_prompt_uses_request_prompt() -> None:
    assert resolve_backend_prompt(None, "request prompt", "default") == "request prompt"


def test_prepare_realtime_backend_prompt_preserves_empty_request_prompt() -> None:
    assert resolve_backend_prompt(None, "", "default") == ""
    assert resolve_backend_prompt(None, None, "default") == ""


def test_prepare_realtime_backend_prompt_renders_default() -> None:
    assert resolve_backend_prompt(None, msgspec.UNSET, "default") == "default"
    assert resolve_backend_prompt(None) == DEFAULT_BACKEND_PROMPT


def test_default_backend_prompt_mentions_both_tools_and_markers() -> None:
    for needle in ("background_agent", "remain_silent", "[BACKEND]", "[USER]"):
        assert needle in DEFAULT_BACKEND_PROMPT
    assert DEFAULT_BACKEND_PROMPT.rstrip() == DEFAULT_BACKEND_PROMPT


def test_build_instructions() -> None:
    assert build_instructions("prompt", "context") == "prompt\n\ncontext"
    assert build_instructions("prompt", "") == "prompt"
    assert build_instructions("", "context") == "context"
    assert build_instructions("", "") == ""


def test_call_session_json_v1_matches_reference_bytes() -> None:
    config = SessionConfig(
        build_instructions("backend prompt", "startup context"),
        version=Version.V1,
        session_id="conv_1",
    )
    assert call_session_json(config) == (
        '{"audio":{"input":{"format":{"rate":24000,"type":"audio/pcm"}},"output":{"voice":"cove"}},'
        '"instructions":"backend prompt\\n\\nstartup context","model":"gpt-realtime-1.5",'
        '"type":"quicksilver"}'
    )


def test_call_session_json_v2_is_sorted_with_model_and_tools() -> None:
    config = SessionConfig("backend prompt", model="gpt-test", session_id="conv_1")
    body = call_session_json(config)
    session = json.loads(body)
    assert list(session) == [
        "audio",
        "instructions",
        "model",
        "output_modalities",
        "tool_choice",
        "tools",
        "type",
    ]
    assert list(session["audio"]["input"]) == [
        "format",
        "noise_reduction",
        "transcription",
        "turn_detection",
    ]
    assert list(session["tools"][0]) == ["description", "name", "parameters", "type"]
    assert session["model"] == "gpt-test"
    assert "id" not in session
    assert body == json.dumps(session, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_call_session_json_keeps_non_ascii() -> None:
    body = call_session_json(SessionConfig("héllo"))
    assert '"instructions":"héllo"' in body


def test_push_to_talk_turns_server_vad_off() -> None:
    vad = session_payload(SessionConfig(instructions="x"))["audio"]["input"]["turn_detection"]
    assert vad["type"] == "server_vad"
    config = SessionConfig(instructions="x", server_vad=False)
    assert session_payload(config)["audio"]["input"]["turn_detection"] is None
    assert json.loads(call_session_json(config))["audio"]["input"]["turn_detection"] is None
    validate_preflight(config)
    with pytest.raises(ConfigError, match="push-to-talk needs realtime v2"):
        validate_preflight(SessionConfig(instructions="x", server_vad=False, version=Version.V1))

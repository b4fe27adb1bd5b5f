"""Settings: TOML file + environment, with errors that name the file, key and type."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtalk import ConfigError
from realtalk._config import Settings, check_base_url, default_config_path, load_settings
from realtalk.protocol import Mode, OutputModality, Version


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    settings = load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.version is Version.V2
    assert settings.mode is Mode.CONVERSATIONAL
    assert settings.model == "gpt-realtime-1.5"
    assert settings.base_url == "https://api.openai.com/v1"
    assert settings.transport == "webrtc"
    assert settings.api_key is None
    assert settings.config_path == str(tmp_path / "realtalk" / "config.toml")


def test_file_then_env_precedence(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'base_url = "http://file/v1"\n'
        "[realtime]\n"
        'version = "v1"\nvoice = "cove"\nmodel = "m-file"\nstartup_context = ""\n'
        'output_modality = "audio"\n'
        "[agent]\n"
        'command = ["agent", "exec"]\ninput = "stdin"\n'
    )
    env = {"REALTALK_MODEL": "m-env", "OPENAI_API_KEY": "sk-x", "REALTALK_VERSION": "v2"}
    settings = load_settings(path, environ=env)
    assert settings.base_url == "http://file/v1"
    assert settings.version is Version.V2  # env beats file
    assert settings.model == "m-env"
    assert settings.voice == "cove"
    assert settings.startup_context == ""  # "" is kept: it disables the context
    assert settings.output_modality is OutputModality.AUDIO
    assert settings.agent_command == ("agent", "exec")
    assert settings.agent_input == "stdin"
    assert settings.api_key == "sk-x"


def test_repr_never_shows_the_api_key(tmp_path: Path) -> None:
    settings = Settings(api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[realtime]\nversion = 2\n", "key realtime.version"),
        ("[realtime]\nvoice = 3\n", "key realtime.voice: expected `str"),
        ('[realtime]\nbogus = "x"\n', "bogus"),
        ("not = [valid", "is not valid TOML"),
    ],
)
def test_bad_file_names_file_key_and_type(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_bad_env_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REALTALK_VERSION='v9': expected one of v1, v2"):
        load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path), "REALTALK_VERSION": "v9"})
    with pytest.raises(ConfigError, match="REALTALK_TRANSPORT"):
        load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path), "REALTALK_TRANSPORT": "pigeon"})


def test_default_config_path_uses_xdg(tmp_path: Path) -> None:
    assert (
        default_config_path({"XDG_CONFIG_HOME": str(tmp_path)})
        == tmp_path / "realtalk" / "config.toml"
    )


@pytest.mark.parametrize(
    "url",
    ["https://api.openai.com/v1", "http://127.0.0.1:8080/v1", "ws://localhost:1/v1", "WSS://h"],
)
def test_usable_base_urls_pass(url: str) -> None:
    assert check_base_url(url, "--base-url") == url


@pytest.mark.parametrize(
    "url",
    [
        "notaurl",
        "ftp://example.com/v1",
        "http://:80",
        "http://h:99999",
        "https://api..openai.com/v1",
    ],
)
def test_unusable_base_urls_name_their_source(url: str) -> None:
    with pytest.raises(ConfigError, match=f"^--base-url {url!r} is not a"):
        check_base_url(url, "--base-url")


def test_base_urls_from_env_and_file_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable OPENAI_BASE_URL 'foo'"):
        load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path), "OPENAI_BASE_URL": "foo"})
    config = tmp_path / "c.toml"
    config.write_text('[realtime]\nws_base_url = "localhost:8080"\n')
    with pytest.raises(ConfigError, match=f"config file {config}: realtime.ws_base_url"):
        load_settings(config, environ={})


def test_an_api_key_with_a_stray_newline_is_refused_without_echoing_it(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "OPENAI_API_KEY": "sk-secret-123\r"}
    with pytest.raises(ConfigError, match="control character") as info:
        load_settings(environ=env)
    assert "sk-secret-123" not in str(info.value)


def _with_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "numbers.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("env", "text", "field", "expected"),
    [
        ({"REALTALK_SIDEBAND_MAX_RETRIES": "0"}, "", "sideband_max_retries", 0),
        ({}, "[realtime]\nsideband_max_retries = 0\n", "sideband_max_retries", 0),
        (  # the environment beats the file, zero included
            {"REALTALK_SIDEBAND_MAX_RETRIES": "0"},
            "[realtime]\nsideband_max_retries = 3\n",
            "sideband_max_retries",
            0,
        ),
        ({}, "[realtime]\nsideband_retry_base_ms = 0\n", "sideband_retry_base_ms", 0),
        ({}, "[agent]\ntimeout_s = 2.5\n", "agent_timeout_s", 2.5),
        ({}, "", "sideband_max_retries", 4),  # unset: the defaults
        ({}, "", "sideband_retry_base_ms", 200),
        ({}, "", "agent_timeout_s", 600.0),
        ({}, "", "rotate_after_s", 3300.0),  # renewed before the server's 60-minute cap
        ({}, "", "reconnect_max_retries", 6),
        ({}, "", "reconnect_retry_base_ms", 250),
        ({"REALTALK_ROTATE_AFTER_S": "0"}, "", "rotate_after_s", 0.0),  # never renew
        ({"REALTALK_ROTATE_AFTER_S": "90.5"}, "", "rotate_after_s", 90.5),
        ({}, "[realtime]\nrotate_after_s = 600\n", "rotate_after_s", 600.0),
        ({"REALTALK_RECONNECT_MAX_RETRIES": "0"}, "", "reconnect_max_retries", 0),
        ({}, "[realtime]\nreconnect_max_retries = 2\n", "reconnect_max_retries", 2),
        ({}, "[realtime]\nreconnect_retry_base_ms = 0\n", "reconnect_retry_base_ms", 0),
    ],
)
def test_zero_is_a_value_not_unset(
    tmp_path: Path, env: dict[str, str], text: str, field: str, expected: float
) -> None:
    settings = load_settings(_with_file(tmp_path, text), environ=env)
    assert getattr(settings, field) == expected


@pytest.mark.parametrize(
    ("env", "text", "named"),
    [
        (
            {"REALTALK_SIDEBAND_MAX_RETRIES": "-1"},
            "",
            "environment variable REALTALK_SIDEBAND_MAX_RETRIES: -1 is out of range",
        ),
        ({"REALTALK_SIDEBAND_MAX_RETRIES": "1000"}, "", "REALTALK_SIDEBAND_MAX_RETRIES: 1000"),
        ({}, "[realtime]\nsideband_max_retries = -2\n", "realtime.sideband_max_retries: -2"),
        ({}, "[realtime]\nsideband_retry_base_ms = -5\n", "realtime.sideband_retry_base_ms: -5"),
        ({}, "[agent]\ntimeout_s = 0\n", "agent.timeout_s: 0"),
        ({}, "[agent]\ntimeout_s = -1.5\n", "agent.timeout_s: -1.5"),
        ({}, "[agent]\ntimeout_s = inf\n", "agent.timeout_s: inf"),
        ({}, "[agent]\ntimeout_s = nan\n", "agent.timeout_s: nan"),
        ({"REALTALK_ROTATE_AFTER_S": "-1"}, "", "REALTALK_ROTATE_AFTER_S: -1"),
        ({"REALTALK_RECONNECT_MAX_RETRIES": "21"}, "", "REALTALK_RECONNECT_MAX_RETRIES: 21"),
        ({}, "[realtime]\nreconnect_retry_base_ms = 20000\n", "reconnect_retry_base_ms: 20000"),
    ],
)
def test_numbers_out_of_range_are_config_errors_naming_the_key(
    tmp_path: Path, env: dict[str, str], text: str, named: str
) -> None:
    path = _with_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=env)
    assert named in str(info.value)
    assert "expected" in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sideband_max_retries", -1),
        ("sideband_retry_base_ms", -1),
        ("agent_timeout_s", 0.0),
        ("reconnect_max_retries", 21),
        ("rotate_after_s", -1.0),
    ],
)
def test_settings_built_in_code_are_checked_too(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_a_non_number_for_rotate_after_s_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REALTALK_ROTATE_AFTER_S='soon': expected a number"):
        load_settings(_with_file(tmp_path, ""), environ={"REALTALK_ROTATE_AFTER_S": "soon"})

"""Offline or real API: one rule for talk and app-server (``realtalk.cli._offline``)."""

from __future__ import annotations

import pytest

from realtalk import ConfigError
from realtalk.cli._offline import embedded_emulator, require_api_key, runs_offline
from realtalk.conversation import Settings


@pytest.mark.parametrize(
    ("settings", "flag", "env", "offline"),
    [
        (Settings(), None, {}, True),
        (Settings(api_key="sk-x"), None, {}, False),
        (Settings(), "http://127.0.0.1:9/v1", {}, False),
        (Settings(), None, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, False),
        (Settings(base_url="http://gateway.internal/v1"), None, {}, False),  # config file
        (Settings(realtime_ws_base_url="ws://127.0.0.1:9/v1"), None, {}, False),
        (Settings(base_url="https://api.openai.com/v1/"), None, {}, True),  # the default
    ],
)
def test_runs_offline(
    settings: Settings, flag: str | None, env: dict[str, str], *, offline: bool
) -> None:
    assert runs_offline(settings, base_url_flag=flag, environ=env) is offline


def test_require_api_key_names_the_variable() -> None:
    require_api_key(Settings(api_key="sk-x"))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set") as missing:
        require_api_key(Settings(base_url="http://127.0.0.1:9/v1"))
    assert "http://127.0.0.1:9/v1" in str(missing.value)


async def test_embedded_emulator_points_the_settings_at_itself() -> None:
    lines: list[str] = []
    async with embedded_emulator(Settings(), announce=lines.append) as offline:
        assert offline.base_url.startswith("http://127.0.0.1:")
        assert offline.api_key and offline.realtime_ws_base_url is None
    assert lines == [f"no API key or base URL: using the offline emulator at {offline.base_url}"]

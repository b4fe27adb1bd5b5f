"""Suite-wide fixtures: a clean environment so the machine's settings cannot leak in."""

from __future__ import annotations

import pytest

_SCRUBBED = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "REALTALK_CA_CERTIFICATE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("REALTALK_"):
            monkeypatch.delenv(name, raising=False)
    # Never read the developer's own config file.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))

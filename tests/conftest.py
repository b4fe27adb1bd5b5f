"""Suite-wide fixtures: a clean environment, emulators on loopback, a local SDP offer."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from realtalk.emulator import Emulator, EmulatorOptions
from realtalk.transports import WebRtcPeer

EmulatorFactory = Callable[..., Awaitable[Emulator]]

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
    for name in list(os.environ):
        if name.startswith("REALTALK_"):
            monkeypatch.delenv(name, raising=False)
    # Never read the developer's own config file, nor write into their log folder.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture
async def emulator_factory() -> AsyncIterator[EmulatorFactory]:
    """Start emulators with given options (fast audio by default); all closed afterwards."""
    created: list[Emulator] = []

    async def make(**overrides: Any) -> Emulator:
        values: dict[str, Any] = {"audio_realtime": False}
        values.update(overrides)
        emu = Emulator(EmulatorOptions(**values))
        created.append(emu)
        await emu.start()
        return emu

    yield make
    for emu in created:
        await emu.aclose()


@pytest.fixture
async def offer() -> AsyncIterator[str]:
    """A real local offer; this peer never connects (tests only need its SDP)."""
    peer = WebRtcPeer(loopback_only=True)
    try:
        yield await peer.create_offer()
    finally:
        await peer.aclose()

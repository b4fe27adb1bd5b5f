"""The pure protocol core must not pull in any I/O machinery."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

BANNED = ("websockets", "aiohttp", "aiortc", "socket", "ssl", "_ssl", "asyncio", "selectors")
# Not banned: the C module `_socket`. msgspec imports typing_extensions, which imports
# `_socket` only to read the type of its `CAPI` capsule (typing_extensions.CapsuleType
# on Python < 3.13). The `socket` module itself is never loaded.


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("package", ["realtalk.protocol", "realtalk.protocol.responses"])
def test_protocol_package_imports_no_io_modules(package: str) -> None:
    loaded = _modules_after_import(package)
    assert package in loaded
    offenders = sorted(name for name in loaded if name.split(".")[0] in BANNED)
    assert offenders == []


def test_layering_check_can_fail() -> None:
    # Guards the test above against passing vacuously (e.g. a broken module listing).
    assert "asyncio" in _modules_after_import("asyncio")


def _modules_after_cli(*argv: str) -> set[str]:
    code = (
        "import contextlib, json, sys\n"
        "from realtalk.cli import main\n"
        "with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(SystemExit):\n"
        f"    main({list(argv)!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("argv", [("--help",), ("bench", "--help"), ("talk", "--help")])
def test_cli_help_loads_no_network_stack(argv: tuple[str, ...]) -> None:
    # `realtalk --help` answers in ~0.1 s; aiohttp + aiortc + audio devices cost ~1 s.
    loaded = _modules_after_cli(*argv)
    assert "realtalk.cli._main" in loaded
    assert sorted(name for name in loaded if name.split(".")[0] in ("aiohttp", "aiortc")) == []


def test_cli_emulator_options_load_their_stack() -> None:
    # The other side of the test above: the check sees a heavy import when there is one.
    assert "aiohttp" in _modules_after_cli("emulator", "--help")


def test_websocket_conversations_never_import_aiortc() -> None:
    # aiortc costs ~0.5 s to import: only a WebRTC name loads it (transports is lazy).
    loaded = _modules_after_import(
        "realtalk.conversation, realtalk.emulator, realtalk.cli._talk\n"
        "from realtalk.transports import connect_realtime, create_call, read_wav_pcm24k"
    )
    assert "realtalk.transports._websocket" in loaded
    assert sorted(name for name in loaded if name.split(".")[0] in ("aiortc", "av")) == []
    webrtc = _modules_after_import(
        "realtalk.transports\nfrom realtalk.transports import WebRtcPeer"
    )
    assert "aiortc" in webrtc

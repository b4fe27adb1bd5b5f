"""What a user checks first: ``realtalk --version`` and the licence."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _realtalk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realtalk", *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_version_prints_the_installed_version() -> None:
    result = _realtalk("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"realtalk {version('realtalk')}\n"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert version("realtalk") == pyproject["project"]["version"]


def test_subcommand_version_option_is_still_the_protocol_version() -> None:
    result = _realtalk("talk", "--version", "v3")
    assert result.returncode == 2
    assert "invalid choice: 'v3'" in result.stderr


def test_licence_file_matches_the_declared_licence() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 realtalk contributors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text

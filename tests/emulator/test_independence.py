"""The emulator is a server of its own: it imports none of realtalk's client packages.

So a bug in the client's codec or WebRTC peer cannot hide in the emulator that tests
it. Root helpers (``realtalk._errors``, ``_signals``, ``_argtypes``) are shared.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import realtalk.emulator

CLIENT_PACKAGES = ("protocol", "transports", "conversation", "agent", "app_server", "cli", "tls")
EMULATOR_DIR = Path(realtalk.emulator.__file__).parent


def _imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level:  # relative: resolve against realtalk.emulator
                base = "realtalk.emulator".rsplit(".", node.level - 1)[0]
                found.add(f"{base}.{node.module}")
            else:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _client_imports(modules: set[str]) -> list[str]:
    return sorted(
        name
        for name in modules
        if name.startswith("realtalk.") and name.split(".")[1] in CLIENT_PACKAGES
    )


@pytest.mark.parametrize("source", sorted(EMULATOR_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_emulator_module_imports_client_code(source: Path) -> None:
    assert _client_imports(_imported_modules(source)) == []


@pytest.mark.parametrize(
    "module",
    # _rtc_peer (aiortc) is imported with the first WebRTC call, not with the package.
    ["realtalk.emulator", "realtalk.emulator._rtc_peer"],
)
def test_importing_the_emulator_loads_no_client_package(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    assert {module, "realtalk.emulator._server"} <= loaded
    assert _client_imports(loaded) == []


def test_the_checks_can_fail() -> None:
    conversation = Path(realtalk.emulator.__file__).parents[1] / "conversation" / "__init__.py"
    assert _client_imports(_imported_modules(conversation)) != []
    assert _client_imports({"realtalk.protocol.responses", "realtalk._errors"}) == [
        "realtalk.protocol.responses"
    ]

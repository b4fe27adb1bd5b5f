"""The package arrows point one way, as docs/architecture.md draws them.

Every ``realtalk`` import in ``src`` is read from the source (module level, inside
functions and under ``TYPE_CHECKING`` alike) and checked against :data:`ALLOWED`:
what each layer may import. The tests read their imports the same way: a test uses
a package's public names, and reaches into its private modules only when it is a
unit test of that package (it lives in the package's test folder).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
SRC: Final = ROOT / "src" / "realtalk"
TESTS: Final = ROOT / "tests"

BASE: Final = frozenset(
    {"realtalk", "_errors", "_logging", "_wslog", "_signals", "_argtypes", "_secrets", "_loop"}
)
"""Shared helpers (the root package re-exports the error tree): no client logic."""
CLIENT_BASE: Final = BASE | {"_proxy", "_boundary", "_ws_connect"}
"""Plus the client's connection helpers: proxy settings, exception mapping, WebSocket connect."""

ALLOWED: Final[dict[str, frozenset[str]]] = {
    # the ground floor
    "realtalk": frozenset({"_errors"}),
    "_errors": frozenset(),
    "_logging": frozenset(),
    "_wslog": frozenset(),
    "_signals": frozenset(),
    "_argtypes": frozenset(),
    "_secrets": frozenset(),
    "_loop": frozenset({"_errors"}),
    "_logfile": BASE,
    "_proxy": BASE,
    "_boundary": BASE | {"_proxy", "tls"},
    "_ws_connect": BASE | {"_proxy", "_boundary", "tls"},
    "_config": BASE | {"protocol"},
    # protocol <- transports <- conversation <- app_server / cli
    "protocol": BASE,
    "tls": BASE,
    "transports": CLIENT_BASE | {"protocol", "tls"},
    "agent": CLIENT_BASE | {"protocol", "tls"},
    "conversation": CLIENT_BASE | {"_config", "protocol", "tls", "transports", "agent"},
    "app_server": CLIENT_BASE
    | {"_config", "protocol", "tls", "transports", "agent", "conversation"},
    # the emulator is independent of the client: shared helpers only
    "emulator": BASE,
    # leaves: benchmarks drive everything but the CLI; only the CLI imports them
    "bench": CLIENT_BASE
    | {"_config", "protocol", "tls", "transports", "agent", "conversation", "app_server"}
    | {"emulator"},
    "cli": CLIENT_BASE
    | {"_config", "_logfile", "protocol", "tls", "transports", "agent", "conversation"}
    | {"app_server", "emulator", "bench"},
    "__main__": frozenset({"cli"}),
}


def _layer_of_file(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    if len(parts) == 1:
        name = parts[0].removesuffix(".py")
        return "realtalk" if name == "__init__" else name
    return parts[0]


def _layer_of_module(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "realtalk":
        return None
    return parts[1] if len(parts) > 1 else "realtalk"


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every absolute ``realtalk`` import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            # ``from realtalk import tls`` imports the tls package.
            if node.module == "realtalk":
                for alias in node.names:
                    if (SRC / alias.name).is_dir() or (SRC / f"{alias.name}.py").is_file():
                        yield node.lineno, f"realtalk.{alias.name}"


@functools.cache
def _arrows() -> tuple[tuple[str, str, str], ...]:
    """``(importing layer, imported layer, "file:line module")`` over ``src``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        source = _layer_of_file(path)
        for line, module in _imports(path):
            target = _layer_of_module(module)
            if target is not None and target != source:
                found.append((source, target, f"{path.relative_to(SRC)}:{line} {module}"))
    return tuple(found)


def test_every_layer_has_a_rule() -> None:
    layers = {_layer_of_file(path) for path in SRC.rglob("*.py")}
    assert layers == set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_the_layer_imports_only_what_lies_below_it(layer: str) -> None:
    offenders = []
    for source, target, where in _arrows():
        if source != layer or target in ALLOWED[layer]:
            continue
        offenders.append(where)
    assert offenders == []


def test_the_check_sees_arrows() -> None:
    # Guards the tests above against passing vacuously (e.g. a broken walk).
    seen = {(source, target) for source, target, _ in _arrows()}
    assert {("cli", "bench"), ("transports", "protocol"), ("conversation", "agent")} <= seen


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("protocol", "transports"),
        ("transports", "conversation"),
        ("conversation", "app_server"),
        ("agent", "emulator"),
        ("conversation", "emulator"),
        ("app_server", "emulator"),
        ("app_server", "bench"),
        ("emulator", "conversation"),
    ],
)
def test_the_rules_forbid_the_arrows_the_issue_names(layer: str, forbidden: str) -> None:
    assert forbidden not in ALLOWED[layer]


def test_one_websocket_library_in_src() -> None:
    # Every WebSocket client goes through realtalk._ws_connect (aiohttp); ``websockets``
    # is a test dependency only.
    offenders = [
        f"{path.relative_to(SRC)}:{line} {module}"
        for path in sorted(SRC.rglob("*.py"))
        for line, module in _imports(path)
        if module.split(".")[0] == "websockets"
    ]
    assert offenders == []
    seen = {module.split(".")[0] for path in SRC.rglob("*.py") for _, module in _imports(path)}
    assert "aiohttp" in seen  # the walk sees third-party imports


# -- tests use public names ------------------------------------------------------------

TEST_PRIVATE_IMPORTS: Final = frozenset(
    {
        # A unit test of a private base module kept beside the transport it serves.
        ("transports/test_proxy.py", "realtalk._proxy"),
        # The emulator's Responses script helper and answering peer drive these tests.
        ("agent/test_responses_agent.py", "realtalk.emulator._responses"),
        ("transports/test_webrtc_peer.py", "realtalk.emulator._rtc_peer"),
    }
)
"""Private imports a test makes outside its own package's folder, each with a reason."""


def _private_module(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def _is_own(test: Path, module: str) -> bool:
    """A unit test: ``tests/<pkg>/`` may use ``realtalk.<pkg>._*``, ``tests/`` ``realtalk._*``."""
    folder = test.relative_to(TESTS).parts[:-1]
    layer = _layer_of_module(module)
    if not folder:
        return layer is not None and layer.startswith("_")
    return layer == folder[0]


def test_tests_use_public_names() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(TESTS).as_posix()
        for line, module in _imports(path):
            if not module.startswith("realtalk") or not _private_module(module):
                continue
            if _is_own(path, module) or (relative, module) in TEST_PRIVATE_IMPORTS:
                continue
            offenders.append(f"tests/{relative}:{line} {module}")
    assert offenders == []


# -- no import cycles between modules ----------------------------------------------------


def _module_of(path: Path) -> str:
    parts = ("realtalk", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, known: set[str]) -> str | None:
    """The module file an import loads (``realtalk.x.Name`` -> ``realtalk.x``)."""
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module or None


def test_no_module_imports_itself_through_others() -> None:
    paths = {_module_of(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        targets = {_resolve(name, set(paths)) for _, name in _imports(path)}
        # A package's __init__ re-exports its modules: an arrow into it is not a cycle.
        graph[module] = {
            t for t in targets if t is not None and t != module and not module.startswith(f"{t}.")
        }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []

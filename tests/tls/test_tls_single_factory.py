"""Every outbound TLS context comes from realtalk.tls: scan the sources with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import realtalk

PACKAGE_ROOT = Path(realtalk.__file__).resolve().parent
EXCLUDED = ("tls", "emulator")  # the factory itself; the emulator serves TLS

_SSL_FACTORIES = frozenset(
    {
        "create_default_context",
        "SSLContext",
        "_create_unverified_context",
        "_create_default_https_context",
    }
)
# Keyword arguments that disable verification or ask a library for its own default context.
_BAD_KEYWORDS = {("ssl", False), ("ssl", True), ("verify_ssl", False)}


def find_offenders(source: str, filename: str) -> list[str]:
    """Return "file:line: what" for each forbidden construct in ``source``."""
    tree = ast.parse(source, filename=filename)
    ssl_modules = {"ssl"}
    imported: dict[str, str] = {}  # local name -> ssl factory name
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ssl":
                    ssl_modules.add(alias.asname or "ssl")
        elif isinstance(node, ast.ImportFrom) and node.module == "ssl":
            for alias in node.names:
                if alias.name in _SSL_FACTORIES:
                    imported[alias.asname or alias.name] = alias.name
    offenders: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name: str | None = None
        if isinstance(func, ast.Attribute) and (
            func.attr == "_create_unverified_context"
            or (
                func.attr in _SSL_FACTORIES
                and isinstance(func.value, ast.Name)
                and func.value.id in ssl_modules
            )
        ):
            name = f"ssl.{func.attr}"
        elif isinstance(func, ast.Name) and (func.id in imported or func.id == "SSLContext"):
            name = imported.get(func.id, func.id)
        if name is not None:
            offenders.append(f"{filename}:{node.lineno}: {name}(...)")
        for keyword in node.keywords:
            value = keyword.value
            if (
                keyword.arg is not None
                and isinstance(value, ast.Constant)
                and isinstance(value.value, bool)
                and (keyword.arg, value.value) in _BAD_KEYWORDS
            ):
                offenders.append(f"{filename}:{node.lineno}: {keyword.arg}={value.value}")
    return offenders


def test_no_module_creates_its_own_tls_context() -> None:
    offenders: list[str] = []
    scanned = 0
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        relative = path.relative_to(PACKAGE_ROOT)
        if relative.parts[0] in EXCLUDED:
            continue
        scanned += 1
        offenders += find_offenders(path.read_text(encoding="utf-8"), str(relative))
    assert scanned > 0
    assert not offenders, (
        "use realtalk.tls.client_ssl_context()/ssl_for_url() instead:\n" + "\n".join(offenders)
    )


def test_scanner_sees_the_factory_itself() -> None:
    # The one real construction site is excluded above; the scanner must still recognise it.
    source = (PACKAGE_ROOT / "tls" / "_context.py").read_text(encoding="utf-8")
    found = find_offenders(source, "tls/_context.py")
    assert len(found) == 1 and found[0].endswith(": ssl.SSLContext(...)")


def test_scanner_flags_every_forbidden_form() -> None:
    source = "\n".join(
        [
            "import ssl",
            "import ssl as s",
            "from ssl import create_default_context as cdc, SSLContext",
            "a = ssl.create_default_context()",
            "b = s.SSLContext(s.PROTOCOL_TLS_CLIENT)",
            "c = cdc()",
            "d = SSLContext()",
            "e = ssl._create_unverified_context()",
            "session.get(url, ssl=False)",
            "session.get(url, verify_ssl=False)",
            "connect(url, ssl=True)",
        ]
    )
    assert find_offenders(source, "x.py") == [
        "x.py:4: ssl.create_default_context(...)",
        "x.py:5: ssl.SSLContext(...)",
        "x.py:6: create_default_context(...)",
        "x.py:7: SSLContext(...)",
        "x.py:8: ssl._create_unverified_context(...)",
        "x.py:9: ssl=False",
        "x.py:10: verify_ssl=False",
        "x.py:11: ssl=True",
    ]


def test_scanner_accepts_the_factory() -> None:
    source = "\n".join(
        [
            "from realtalk.tls import client_ssl_context, ssl_for_url",
            "session.get(url, ssl=client_ssl_context())",
            "connect(url, ssl=ssl_for_url(url))",
            "ctx = ssl.PROTOCOL_TLS_CLIENT",
            "other.create_default_context()",
        ]
    )
    assert find_offenders(source, "ok.py") == []

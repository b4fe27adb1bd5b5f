"""Fixtures for the TLS tests: a clean environment and freshly generated CAs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from realtalk.tls import reset_cache

_PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
_SCRUBBED = (
    "REALTALK_CA_CERTIFICATE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    *_PROXY_NAMES,
    *(name.lower() for name in _PROXY_NAMES),
)


@pytest.fixture(autouse=True)
def _clean_tls_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CA or proxy variable leaks in from the machine, and no cached context survives."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    reset_cache()
    yield
    reset_cache()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_pem(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost")

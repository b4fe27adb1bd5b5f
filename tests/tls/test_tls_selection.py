"""Bundle selection, precedence, logging, caching and the URL helper."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

import pytest
import trustme

from realtalk.tls import (
    CaSelection,
    InvalidCaFileError,
    ReadCaFileError,
    client_ssl_context,
    reset_cache,
    select_ca_bundle,
    ssl_for_url,
)

from ._helpers import ca_der

REALTALK = "REALTALK_CA_CERTIFICATE"
SSL_CERT_FILE = "SSL_CERT_FILE"


def _trusted(ctx: ssl.SSLContext) -> list[bytes]:
    return list(ctx.get_ca_certs(binary_form=True))


def test_realtalk_variable_wins_over_ssl_cert_file() -> None:
    selection = select_ca_bundle({REALTALK: "/a.pem", SSL_CERT_FILE: "/b.pem"})
    assert selection == CaSelection(env=REALTALK, path="/a.pem")


def test_falls_back_to_ssl_cert_file() -> None:
    assert select_ca_bundle({SSL_CERT_FILE: "/b.pem"}) == CaSelection(SSL_CERT_FILE, "/b.pem")


def test_empty_values_count_as_unset() -> None:
    assert select_ca_bundle({REALTALK: "", SSL_CERT_FILE: "/b.pem"}) == CaSelection(
        SSL_CERT_FILE, "/b.pem"
    )
    assert select_ca_bundle({REALTALK: "", SSL_CERT_FILE: ""}) is None
    assert select_ca_bundle({}) is None


def test_values_are_not_trimmed(ca_pem: Path) -> None:
    padded = f" {ca_pem} "
    assert select_ca_bundle({REALTALK: padded}) == CaSelection(REALTALK, padded)
    with pytest.raises(ReadCaFileError) as info:
        client_ssl_context(environ={REALTALK: padded})
    assert info.value.path == padded


def test_default_environ_is_the_process_environment(
    ca: trustme.CA, ca_pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ca_der(ca) not in _trusted(client_ssl_context())
    monkeypatch.setenv(REALTALK, str(ca_pem))
    assert ca_der(ca) in _trusted(client_ssl_context())


def test_realtalk_variable_makes_a_broken_ssl_cert_file_irrelevant(
    ca: trustme.CA, ca_pem: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    ctx = client_ssl_context(environ={REALTALK: str(ca_pem), SSL_CERT_FILE: str(empty)})
    assert ca_der(ca) in _trusted(ctx)
    with pytest.raises(InvalidCaFileError) as info:
        client_ssl_context(environ={SSL_CERT_FILE: str(empty)})
    assert info.value.env == SSL_CERT_FILE
    assert f"{empty} selected by SSL_CERT_FILE" in str(info.value)


def test_context_is_a_verifying_client_context(ca_pem: Path) -> None:
    for environ in ({}, {REALTALK: str(ca_pem)}):
        ctx = client_ssl_context(environ=environ)
        assert ctx.protocol is ssl.PROTOCOL_TLS_CLIENT
        assert ctx.check_hostname is True
        assert ctx.verify_mode is ssl.CERT_REQUIRED


def test_bundle_is_added_on_top_of_system_roots(ca: trustme.CA, ca_pem: Path) -> None:
    system = _trusted(client_ssl_context(environ={}))
    with_bundle = _trusted(client_ssl_context(environ={REALTALK: str(ca_pem)}))
    assert ca_der(ca) not in system
    assert sorted(with_bundle) == sorted([*system, ca_der(ca)])


def test_ssl_cert_file_in_process_env_is_not_a_second_trust_source(
    ca: trustme.CA, ca_pem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = trustme.CA()
    other_pem = tmp_path / "other.pem"
    other.cert_pem.write_to_path(str(other_pem))
    system = _trusted(client_ssl_context(environ={}))
    # OpenSSL reads these from the real environment; our selection must still win alone.
    monkeypatch.setenv(SSL_CERT_FILE, str(other_pem))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    ctx = client_ssl_context(environ={REALTALK: str(ca_pem), SSL_CERT_FILE: str(other_pem)})
    trusted = _trusted(ctx)
    assert ca_der(other) not in trusted
    assert sorted(trusted) == sorted([*system, ca_der(ca)])
    # With no bundle selected the system roots are the same as in a clean environment.
    assert sorted(_trusted(client_ssl_context(environ={}))) == sorted(system)


def test_logs_variable_path_and_count_but_not_contents(
    ca_pem: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="realtalk.tls")
    client_ssl_context(environ={REALTALK: str(ca_pem)})
    records = [r for r in caplog.records if getattr(r, "ca_env", None) == REALTALK]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    assert record.__dict__["ca_path"] == str(ca_pem)
    assert record.__dict__["ca_certificates"] == 1
    message = record.getMessage()
    assert str(ca_pem) in message and REALTALK in message and "1 certificates" in message
    assert "BEGIN" not in caplog.text and "MII" not in caplog.text


def test_context_is_cached_per_selection_and_file(
    ca_pem: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="realtalk.tls")
    environ = {REALTALK: str(ca_pem)}
    first = client_ssl_context(environ=environ)
    assert client_ssl_context(environ=environ) is first
    assert ssl_for_url("wss://example.test/x", environ=environ) is first
    assert len([r for r in caplog.records if getattr(r, "ca_env", None) == REALTALK]) == 1

    # Same path, other variable: a different selection.
    other_var = client_ssl_context(environ={SSL_CERT_FILE: str(ca_pem)})
    assert other_var is not first

    # The file changed (size differs): rebuilt.
    second = trustme.CA()
    ca_pem.write_bytes(ca_pem.read_bytes() + second.cert_pem.bytes())
    rebuilt = client_ssl_context(environ=environ)
    assert rebuilt is not first
    assert ca_der(second) in _trusted(rebuilt)

    reset_cache()
    assert client_ssl_context(environ=environ) is not rebuilt


def test_errors_are_not_cached(ca: trustme.CA, tmp_path: Path) -> None:
    path = tmp_path / "later.pem"
    environ = {REALTALK: str(path)}
    with pytest.raises(ReadCaFileError):
        client_ssl_context(environ=environ)
    ca.cert_pem.write_to_path(str(path))
    assert ca_der(ca) in _trusted(client_ssl_context(environ=environ))


@pytest.mark.parametrize(
    ("url", "tls"),
    [
        ("https://api.example.test/v1", True),
        ("wss://api.example.test/v1/realtime", True),
        ("HTTPS://API.EXAMPLE.TEST/", True),
        ("http://127.0.0.1:8080/", False),
        ("ws://127.0.0.1:8080/ws", False),
    ],
)
def test_ssl_for_url(url: str, *, tls: bool, ca_pem: Path) -> None:
    environ = {REALTALK: str(ca_pem)}
    result = ssl_for_url(url, environ=environ)
    if tls:
        assert result is client_ssl_context(environ=environ)
    else:
        assert result is None


def test_plain_urls_never_read_the_bundle(tmp_path: Path) -> None:
    # A broken bundle must not break plain-text connections.
    environ = {REALTALK: str(tmp_path / "missing.pem")}
    assert ssl_for_url("ws://127.0.0.1:1/", environ=environ) is None
    assert os.environ.get(REALTALK) is None

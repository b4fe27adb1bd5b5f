"""Real TLS handshakes on loopback with aiohttp and websockets clients."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme

from realtalk import ConnectError
from realtalk.tls import client_ssl_context, describe_tls_failure, ssl_for_url

from ._helpers import (
    crl_pem,
    https_get,
    openssl_trusted_pem,
    serve_tls,
    server_context,
    synthetic_trusted_pem,
    write_bundle,
    wss_echo,
)

REALTALK = "REALTALK_CA_CERTIFICATE"
ADVICE = (
    "If you are behind a proxy or use a private CA, set REALTALK_CA_CERTIFICATE "
    "to your CA bundle (PEM)."
)


async def _assert_both_clients_connect(port: int, ctx: ssl.SSLContext) -> None:
    assert await https_get(port, ctx) == "ok"
    assert await wss_echo(port, ctx, "hello") == "hello"


@pytest.mark.parametrize("variable", [REALTALK, "SSL_CERT_FILE"])
async def test_selected_bundle_completes_handshakes(
    leaf: trustme.LeafCert, ca_pem: Path, tmp_path: Path, variable: str
) -> None:
    environ = {variable: str(ca_pem)}
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(port, client_ssl_context(environ=environ))
        wss_ctx = ssl_for_url(f"wss://127.0.0.1:{port}/ws", environ=environ)
        assert wss_ctx is not None
        assert await wss_echo(port, wss_ctx) == "ping"


async def test_process_environment_variable_is_used_by_default(
    leaf: trustme.LeafCert, ca_pem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REALTALK, str(ca_pem))
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(port, client_ssl_context())


async def test_realtalk_variable_wins_over_an_empty_ssl_cert_file(
    leaf: trustme.LeafCert, ca_pem: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    ctx = client_ssl_context(environ={REALTALK: str(ca_pem), "SSL_CERT_FILE": str(empty)})
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(port, ctx)


async def test_without_a_bundle_verification_fails_with_a_clear_message(
    leaf: trustme.LeafCert, tmp_path: Path
) -> None:
    ctx = client_ssl_context(environ={})
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as http_info:
            await https_get(port, ctx)
        with pytest.raises(ssl.SSLCertVerificationError) as ws_info:
            await wss_echo(port, ctx)

    http_reason = http_info.value.certificate_error
    assert isinstance(http_reason, ssl.SSLCertVerificationError)
    assert http_reason.verify_message  # e.g. "unable to get local issuer certificate"
    assert describe_tls_failure(http_info.value) == (
        f"TLS certificate verification failed for 127.0.0.1: {http_reason.verify_message}. {ADVICE}"
    )

    ws_error = ws_info.value
    assert describe_tls_failure(ws_error) == (
        f"TLS certificate verification failed: {ws_error.verify_message}. {ADVICE}"
    )
    assert describe_tls_failure(ws_error, host="127.0.0.1") == (
        f"TLS certificate verification failed for 127.0.0.1: {ws_error.verify_message}. {ADVICE}"
    )
    # Wrapped by a transport layer (``raise ConnectError(...) from exc``).
    try:
        raise ConnectError("could not connect to the realtime endpoint") from ws_error
    except ConnectError as wrapped:
        described = describe_tls_failure(wrapped)
    assert described is not None and REALTALK in described


async def test_hostname_mismatch_is_described(ca: trustme.CA, ca_pem: Path, tmp_path: Path) -> None:
    wrong_name = ca.issue_cert("service.example.test")
    ctx = client_ssl_context(environ={REALTALK: str(ca_pem)})
    async with serve_tls(server_context(wrong_name, tmp_path, send_chain=True)) as port:
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as info:
            await https_get(port, ctx)
    described = describe_tls_failure(info.value)
    assert described is not None
    assert described.startswith("TLS certificate verification failed for 127.0.0.1: ")
    assert "mismatch" in described.lower()
    assert ".." not in described


async def test_ssl_cert_file_in_process_env_does_not_add_trust(
    leaf: trustme.LeafCert, ca_pem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = trustme.CA()
    other_pem = tmp_path / "other.pem"
    other.cert_pem.write_to_path(str(other_pem))
    # OpenSSL would load this implicitly through load_default_certs(); it must not count.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
    ctx = client_ssl_context(environ={REALTALK: str(other_pem)})
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await https_get(port, ctx)


@pytest.mark.parametrize(
    "form",
    [
        "synthetic",
        "openssl-serverAuth",
        "openssl-reject-serverAuth",
    ],
)
async def test_trusted_certificate_bundle_completes_handshakes(
    ca: trustme.CA, leaf: trustme.LeafCert, ca_pem: Path, tmp_path: Path, form: str
) -> None:
    bundle = tmp_path / "trusted.pem"
    if form == "synthetic":
        write_bundle(bundle, [synthetic_trusted_pem(ca)])
    else:
        # Like the reference, the aux trust data is dropped: even "reject serverAuth" trusts.
        flag = "-addtrust" if form == "openssl-serverAuth" else "-addreject"
        openssl_trusted_pem(ca_pem, bundle, flag, "serverAuth")
    assert "-----BEGIN CERTIFICATE-----" not in bundle.read_text()
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(
            port, client_ssl_context(environ={REALTALK: str(bundle)})
        )


async def test_mixed_bundle_completes_handshakes(
    ca: trustme.CA, leaf: trustme.LeafCert, tmp_path: Path
) -> None:
    # The needed CA is a TRUSTED block after a plain CA, CRLs, a key and commentary, with CRLF:
    # passing this text to cadata= would silently drop it.
    unrelated = trustme.CA()
    bundle = write_bundle(
        tmp_path / "mixed.pem",
        [
            "Corporate trust bundle\n",
            unrelated.cert_pem.bytes().decode(),
            crl_pem(unrelated),
            unrelated.private_key_pem.bytes().decode(),
            synthetic_trusted_pem(ca),
            crl_pem(ca),
        ],
        newline="\r\n",
    )
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(
            port, client_ssl_context(environ={REALTALK: str(bundle)})
        )


async def test_crl_bundle_completes_handshakes(
    ca: trustme.CA, leaf: trustme.LeafCert, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "crl.pem", [crl_pem(ca), ca.cert_pem.bytes().decode()])
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(
            port, client_ssl_context(environ={REALTALK: str(bundle)})
        )


async def test_ca_and_intermediate_bundle_completes_handshakes(
    ca: trustme.CA, tmp_path: Path
) -> None:
    intermediate = ca.create_child_ca()
    server_leaf = intermediate.issue_cert("127.0.0.1")
    bundle = write_bundle(
        tmp_path / "chain.pem",
        [ca.cert_pem.bytes().decode(), intermediate.cert_pem.bytes().decode()],
    )
    ctx = client_ssl_context(environ={REALTALK: str(bundle)})
    async with serve_tls(server_context(server_leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(port, ctx)
    # The server now sends only its leaf: the intermediate (2nd in the bundle) must be trusted.
    async with serve_tls(server_context(server_leaf, tmp_path, send_chain=False)) as port:
        await _assert_both_clients_connect(port, ctx)


async def test_every_certificate_of_a_bundle_is_trusted(
    ca: trustme.CA, leaf: trustme.LeafCert, tmp_path: Path
) -> None:
    others = [trustme.CA(), trustme.CA()]
    bundle = write_bundle(
        tmp_path / "many.pem",
        [*(o.cert_pem.bytes().decode() for o in others), ca.cert_pem.bytes().decode()],
    )
    async with serve_tls(server_context(leaf, tmp_path, send_chain=True)) as port:
        await _assert_both_clients_connect(
            port, client_ssl_context(environ={REALTALK: str(bundle)})
        )

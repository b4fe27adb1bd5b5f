"""Reading and parsing CA bundles, and the exact error messages."""

from __future__ import annotations

import base64
import errno
import logging
import os
from pathlib import Path

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

import realtalk
from realtalk.tls import (
    CA_HINT,
    CaSelection,
    InvalidCaFileError,
    ReadCaFileError,
    RegisterCertificateError,
    client_ssl_context,
    first_der_element,
    load_ca_bundle,
)

from ._helpers import (
    AUX_TRUST_SERVER_AUTH,
    HINT,
    ca_der,
    crl_pem,
    openssl_trusted_pem,
    pem_block,
    synthetic_trusted_pem,
    write_bundle,
)

REALTALK = "REALTALK_CA_CERTIFICATE"


def _load(path: Path) -> tuple[bytes, ...]:
    return load_ca_bundle(CaSelection(env=REALTALK, path=str(path)))


def _invalid(path: Path, detail: str) -> str:
    return f"Failed to load CA certificates from {path} selected by {REALTALK}: {detail}. {HINT}"


def test_hint_matches_the_specified_text() -> None:
    assert CA_HINT == HINT


def test_single_certificate(ca: trustme.CA, ca_pem: Path) -> None:
    assert _load(ca_pem) == (ca_der(ca),)


def test_multi_certificate_bundle_keeps_order(ca: trustme.CA, tmp_path: Path) -> None:
    intermediate = ca.create_child_ca()
    path = write_bundle(
        tmp_path / "multi.pem",
        [ca.cert_pem.bytes().decode(), intermediate.cert_pem.bytes().decode()],
    )
    assert _load(path) == (ca_der(ca), ca_der(intermediate))


def test_text_between_blocks_and_crlf(ca: trustme.CA, tmp_path: Path) -> None:
    other = trustme.CA()
    parts = [
        "# corporate bundle\nsubject=CN = whatever\n",
        ca.cert_pem.bytes().decode(),
        "\n  some trailing words  \n\n",
        "  " + other.cert_pem.bytes().decode(),
        "end of file without newline",
    ]
    path = write_bundle(tmp_path / "crlf.pem", parts, newline="\r\n")
    assert b"\r\n" in path.read_bytes()
    assert _load(path) == (ca_der(ca), ca_der(other))


def test_trusted_certificate_drops_aux_data(ca: trustme.CA, tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "trusted.pem", [synthetic_trusted_pem(ca)])
    assert _load(path) == (ca_der(ca),)


@pytest.mark.parametrize(
    "trust_args",
    [(), ("-addtrust", "serverAuth"), ("-addtrust", "clientAuth"), ("-addreject", "serverAuth")],
)
def test_openssl_trustout_form_is_reduced_to_the_certificate(
    ca: trustme.CA, ca_pem: Path, tmp_path: Path, trust_args: tuple[str, ...]
) -> None:
    text = openssl_trusted_pem(ca_pem, tmp_path / "trusted.pem", *trust_args)
    assert "BEGIN TRUSTED CERTIFICATE" in text
    assert _load(tmp_path / "trusted.pem") == (ca_der(ca),)


@pytest.mark.parametrize("crl_position", ["first", "middle", "last"])
def test_crl_blocks_are_skipped_and_logged_once(
    ca: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture, crl_position: str
) -> None:
    other = trustme.CA()
    certs = [ca.cert_pem.bytes().decode(), other.cert_pem.bytes().decode()]
    crls = [crl_pem(ca), crl_pem(other)]
    parts = {
        "first": [*crls, *certs],
        "middle": [certs[0], *crls, certs[1]],
        "last": [*certs, *crls],
    }[crl_position]
    path = write_bundle(tmp_path / "crl.pem", parts)
    assert "BEGIN X509 CRL" in path.read_text()
    caplog.set_level(logging.INFO, logger="realtalk.tls")
    assert _load(path) == (ca_der(ca), ca_der(other))
    crl_records = [r for r in caplog.records if "CRL" in r.getMessage()]
    assert len(crl_records) == 1
    assert crl_records[0].__dict__["crls"] == 2


def test_other_blocks_are_ignored(ca: trustme.CA, tmp_path: Path) -> None:
    key = ca.private_key_pem.bytes().decode()
    damaged_crl = "-----BEGIN X509 CRL-----\n!!! not base64 !!!\n-----END X509 CRL-----\n"
    path = write_bundle(tmp_path / "mixed.pem", [key, damaged_crl, ca.cert_pem.bytes().decode()])
    assert _load(path) == (ca_der(ca),)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n\n",
        b"just some text\r\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_no_certificates(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.pem"
    path.write_bytes(content)
    with pytest.raises(InvalidCaFileError) as info:
        _load(path)
    assert str(info.value) == _invalid(path, "no certificates found in PEM file")
    assert info.value.detail == "no certificates found in PEM file"
    assert isinstance(info.value, realtalk.TlsConfigError)


def test_bad_base64_inside_a_certificate_block(tmp_path: Path) -> None:
    path = tmp_path / "bad.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIB$$notbase64\n-----END CERTIFICATE-----\n")
    with pytest.raises(InvalidCaFileError) as info:
        _load(path)
    message = str(info.value)
    prefix = _invalid(path, "failed to parse PEM file: ").removesuffix(f". {HINT}")
    assert message.startswith(prefix + "invalid base64 in CERTIFICATE block starting at line 1")
    assert message.endswith(f". {HINT}")


def test_invalid_utf8_is_decoded_lossily(ca: trustme.CA, tmp_path: Path) -> None:
    path = tmp_path / "latin1.pem"
    path.write_bytes(b"# Zertifikat f\xfcr intern\n" + ca.cert_pem.bytes())
    assert _load(path) == (ca_der(ca),)


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (
            "-----BEGIN CERTIFICATE-----\nMIIBroken\n",
            "no END line for the CERTIFICATE block starting at line 1",
        ),
        (
            "text\n-----BEGIN CERTIFICATE-----\n",
            "no END line for the CERTIFICATE block starting at line 2",
        ),
        ("-----BEGIN CERTIF\nAAAA\n", "malformed BEGIN line at line 1"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERT\n",
            "malformed END line at line 3",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n",
            "END X509 CRL at line 3 does not match BEGIN CERTIFICATE at line 1",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----BEGIN CERTIFICATE-----\n",
            "BEGIN line at line 3 inside the CERTIFICATE block starting at line 1 (missing END line)",
        ),
    ],
)
def test_malformed_structure(tmp_path: Path, content: str, detail: str) -> None:
    path = tmp_path / "broken.pem"
    path.write_text(content)
    with pytest.raises(InvalidCaFileError) as info:
        _load(path)
    assert str(info.value) == _invalid(path, f"failed to parse PEM file: {detail}")


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x30",
        b"\x30\x05abc",  # short form, longer than the data
        b"\x30\x80abc",  # indefinite length
        b"\x30\x82\x01",  # length bytes missing
        b"\x30\x82\xff\xffabc",  # long form, longer than the data
    ],
)
def test_trusted_certificate_with_invalid_der_length(tmp_path: Path, der: bytes) -> None:
    path = write_bundle(tmp_path / "trusted.pem", [pem_block("TRUSTED CERTIFICATE", der)])
    with pytest.raises(InvalidCaFileError) as info:
        _load(path)
    assert str(info.value) == _invalid(
        path, "failed to extract certificate data from TRUSTED CERTIFICATE: invalid DER length"
    )


@given(
    payload=st.binary(max_size=70_000),
    trailer=st.binary(max_size=64),
)
def test_first_der_element_splits_at_the_encoded_length(payload: bytes, trailer: bytes) -> None:
    size = len(payload)
    if size < 0x80:
        header = bytes([0x30, size])
    else:
        length = size.to_bytes((size.bit_length() + 7) // 8, "big")
        header = bytes([0x30, 0x80 | len(length)]) + length
    element = header + payload
    assert first_der_element(element + trailer) == element


def test_first_der_element_on_a_real_certificate(ca: trustme.CA) -> None:
    der = ca_der(ca)
    assert first_der_element(der + AUX_TRUST_SERVER_AUTH) == der
    assert first_der_element(der) == der


def test_unreadable_directory(tmp_path: Path) -> None:
    with pytest.raises(ReadCaFileError) as info:
        client_ssl_context(environ={REALTALK: str(tmp_path)})
    error = info.value
    assert error.errno == errno.EISDIR
    assert isinstance(error.__cause__, IsADirectoryError)
    assert str(error) == (
        f"Failed to read CA certificate file {tmp_path} selected by {REALTALK}: "
        f"{os.strerror(errno.EISDIR)} (os error {errno.EISDIR}). {HINT}"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pem"
    with pytest.raises(ReadCaFileError) as info:
        client_ssl_context(environ={"SSL_CERT_FILE": str(path)})
    error = info.value
    assert error.errno == errno.ENOENT
    assert isinstance(error.__cause__, FileNotFoundError)
    assert error.env == "SSL_CERT_FILE"
    assert str(error) == (
        f"Failed to read CA certificate file {path} selected by SSL_CERT_FILE: "
        f"{os.strerror(errno.ENOENT)} (os error {errno.ENOENT}). {HINT}"
    )


@pytest.mark.parametrize(
    "der",
    [
        b"\x30\x03abc",  # a DER element that is not a certificate
        base64.b64decode("MAA="),  # an empty SEQUENCE
        b"",  # an empty block
    ],
)
def test_rejected_certificate_names_its_index(ca: trustme.CA, tmp_path: Path, der: bytes) -> None:
    path = write_bundle(
        tmp_path / "rejected.pem",
        [ca.cert_pem.bytes().decode(), pem_block("CERTIFICATE", der)],
    )
    with pytest.raises(RegisterCertificateError) as info:
        client_ssl_context(environ={REALTALK: str(path)})
    error = info.value
    assert error.index == 2
    assert error.reason and error.reason == str(error.__cause__)
    assert str(error) == (
        f"Failed to parse certificate #2 from {path} selected by {REALTALK}: {error.reason}. {HINT}"
    )
    assert isinstance(error, realtalk.TlsConfigError)

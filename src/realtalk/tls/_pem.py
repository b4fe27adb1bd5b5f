"""A small PEM bundle parser with the reference's rules for CA bundles.

We parse PEM ourselves instead of handing the file to OpenSSL (``cafile=``) because OpenSSL
would honour trust/reject data in ``TRUSTED CERTIFICATE`` blocks, load CRLs, and hide which
certificate failed; and ``cadata=<text>`` silently drops ``TRUSTED CERTIFICATE`` blocks.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

__all__ = ["PemBundle", "PemError", "TrustedCertificateError", "first_der_element", "parse_pem"]

_CERTIFICATE = "CERTIFICATE"
_TRUSTED_CERTIFICATE = "TRUSTED CERTIFICATE"
_CRL = "X509 CRL"

_BEGIN = re.compile(r"-----BEGIN ([^-\r\n]*)-----")
_END = re.compile(r"-----END ([^-\r\n]*)-----")


class PemError(ValueError):
    """The PEM text is malformed (unterminated block, bad base64, broken boundary line)."""


class TrustedCertificateError(ValueError):
    """A ``TRUSTED CERTIFICATE`` block does not start with a well-formed DER element."""


@dataclass(frozen=True, slots=True)
class PemBundle:
    """Certificates (DER, in file order) and the number of skipped CRL blocks."""

    certificates: tuple[bytes, ...]
    crl_count: int


def first_der_element(data: bytes) -> bytes:
    """Return the first top-level DER element of ``data``.

    OpenSSL's ``TRUSTED CERTIFICATE`` form is the certificate followed by X509_AUX trust
    data; keeping only the first element yields the plain certificate.

    Raises:
        TrustedCertificateError: the length header is missing, indefinite or too long.
    """
    if len(data) < 2:
        raise TrustedCertificateError("invalid DER length")
    first = data[1]
    if first < 0x80:
        total = 2 + first
    else:
        count = first & 0x7F
        if count == 0 or 2 + count > len(data):
            raise TrustedCertificateError("invalid DER length")
        total = 2 + count + int.from_bytes(data[2 : 2 + count], "big")
    if total > len(data):
        raise TrustedCertificateError("invalid DER length")
    return data[:total]


def _decode_body(label: str, start_line: int, lines: list[str]) -> bytes:
    # RFC 7468 parsers are lax about whitespace inside the base64 body; be the same.
    body = "".join("".join(line.split()) for line in lines)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PemError(
            f"invalid base64 in {label} block starting at line {start_line}: {exc}"
        ) from exc


def parse_pem(text: str) -> PemBundle:
    """Collect the certificates of a PEM bundle.

    ``CERTIFICATE`` blocks are kept as is; ``TRUSTED CERTIFICATE`` blocks are reduced to their
    first DER element; ``X509 CRL`` blocks are counted and skipped; any other block and any text
    between blocks is ignored. Only certificate bodies are base64-decoded, so a damaged key or
    CRL block cannot break an otherwise usable bundle.

    Raises:
        PemError: a block has no END line, mismatched labels, a broken boundary line or bad
            base64 in a certificate body.
        TrustedCertificateError: a ``TRUSTED CERTIFICATE`` body has an invalid DER length.
    """
    certificates: list[bytes] = []
    crl_count = 0
    label: str | None = None
    start_line = 0
    body: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if label is None:
            if not line.startswith("-----BEGIN"):
                continue  # commentary between blocks
            begin = _BEGIN.fullmatch(line)
            if begin is None:
                raise PemError(f"malformed BEGIN line at line {number}")
            label, start_line, body = begin.group(1), number, []
            continue
        if line.startswith("-----BEGIN"):
            raise PemError(
                f"BEGIN line at line {number} inside the {label} block starting at line "
                f"{start_line} (missing END line)"
            )
        if not line.startswith("-----END"):
            body.append(line)
            continue
        end = _END.fullmatch(line)
        if end is None:
            raise PemError(f"malformed END line at line {number}")
        if end.group(1) != label:
            raise PemError(
                f"END {end.group(1)} at line {number} does not match BEGIN {label} "
                f"at line {start_line}"
            )
        if label == _CERTIFICATE:
            certificates.append(_decode_body(label, start_line, body))
        elif label == _TRUSTED_CERTIFICATE:
            certificates.append(first_der_element(_decode_body(label, start_line, body)))
        elif label == _CRL:
            crl_count += 1
        label = None
    if label is not None:
        raise PemError(f"no END line for the {label} block starting at line {start_line}")
    return PemBundle(certificates=tuple(certificates), crl_count=crl_count)

"""Which CA bundle is in force, and reading it into DER certificates."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from realtalk.tls._errors import (
    CA_CERTIFICATE_ENV,
    SSL_CERT_FILE_ENV,
    InvalidCaFileError,
    ReadCaFileError,
)
from realtalk.tls._pem import PemError, TrustedCertificateError, parse_pem

__all__ = ["CaSelection", "load_ca_bundle", "select_ca_bundle"]

logger = logging.getLogger(__name__)

_SELECTION_ORDER = (CA_CERTIFICATE_ENV, SSL_CERT_FILE_ENV)


@dataclass(frozen=True, slots=True)
class CaSelection:
    """The bundle chosen by the environment: the winning variable and its (untrimmed) path."""

    env: str
    path: str


def select_ca_bundle(environ: Mapping[str, str] = os.environ) -> CaSelection | None:
    """Pick the CA bundle: ``REALTALK_CA_CERTIFICATE``, else ``SSL_CERT_FILE``, else None.

    An empty value counts as unset; values are used verbatim (not trimmed). None means
    system roots only.
    """
    for env in _SELECTION_ORDER:
        value = environ.get(env, "")
        if value:
            return CaSelection(env=env, path=value)
    return None


def load_ca_bundle(selection: CaSelection) -> tuple[bytes, ...]:
    """Read the selected bundle and return its certificates as DER, in file order.

    Raises:
        ReadCaFileError: the file cannot be read (``__cause__`` is the OSError).
        InvalidCaFileError: the PEM text is malformed or holds no certificates.
    """
    try:
        with open(selection.path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ReadCaFileError(path=selection.path, env=selection.env, error=exc) from exc
    text = data.decode("utf-8", errors="replace")
    try:
        bundle = parse_pem(text)
    except PemError as exc:
        raise InvalidCaFileError(
            path=selection.path, env=selection.env, detail=f"failed to parse PEM file: {exc}"
        ) from exc
    except TrustedCertificateError as exc:
        raise InvalidCaFileError(
            path=selection.path,
            env=selection.env,
            detail=f"failed to extract certificate data from TRUSTED CERTIFICATE: {exc}",
        ) from exc
    if bundle.crl_count:
        # Once per load: CRLs are not enforced (like the reference), so say so rather than
        # letting a user believe revocation is checked.
        logger.info(
            "ignoring %d X509 CRL block(s) in CA bundle %s selected by %s",
            bundle.crl_count,
            selection.path,
            selection.env,
            extra={"ca_env": selection.env, "ca_path": selection.path, "crls": bundle.crl_count},
        )
    if not bundle.certificates:
        raise InvalidCaFileError(
            path=selection.path, env=selection.env, detail="no certificates found in PEM file"
        )
    return bundle.certificates

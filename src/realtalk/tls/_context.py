"""The one client ``SSLContext`` factory, cached per selected bundle.

System roots: ``SSLContext.load_default_certs()`` ends in OpenSSL's
``X509_STORE_set_default_paths``, which reads ``SSL_CERT_FILE``/``SSL_CERT_DIR`` from the
process environment and, when set, uses them *instead of* the platform bundle. That would make
``SSL_CERT_FILE`` a silent second trust source (or replace the system roots) even when
``REALTALK_CA_CERTIFICATE`` won, and would load that file with OpenSSL's own rules (honouring
trust/reject aux data, loading CRLs). So ``load_default_certs()`` is used only while neither
variable is in the process environment; otherwise the platform defaults are loaded by hand
(OpenSSL's compiled-in file and directory, plus the Windows stores). ``SSL_CERT_DIR`` is not
part of our selection and is therefore never honoured.
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from realtalk.tls._ca import CaSelection, load_ca_bundle, select_ca_bundle
from realtalk.tls._errors import RegisterCertificateError

__all__ = ["client_ssl_context", "reset_cache", "ssl_for_url"]

logger = logging.getLogger(__name__)

_TLS_SCHEMES = frozenset({"https", "wss"})

# (selection, file identity, whether OpenSSL's env variables are present) -> context.
_CacheKey = tuple[CaSelection | None, tuple[int, int, int] | None, bool]

_lock = threading.Lock()
_cached: tuple[_CacheKey, ssl.SSLContext] | None = None


_DEFAULT_PATHS = ssl.get_default_verify_paths()
# Normally SSL_CERT_FILE and SSL_CERT_DIR; asked from the linked OpenSSL to be exact.
_OPENSSL_ENV_NAMES = (_DEFAULT_PATHS.openssl_cafile_env, _DEFAULT_PATHS.openssl_capath_env)


def _openssl_env_present() -> bool:
    # OpenSSL reads the C environment, which os.environ mirrors; presence (even empty) counts
    # because OpenSSL then stops looking at its defaults.
    return any(name in os.environ for name in _OPENSSL_ENV_NAMES)


def _load_system_roots(ctx: ssl.SSLContext, *, openssl_env_present: bool) -> None:
    if not openssl_env_present:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return
    if sys.platform == "win32":
        # What load_default_certs does on Windows, minus the env-driven default paths.
        for store in ("CA", "ROOT"):
            der = bytearray()
            for cert, encoding, trust in ssl.enum_certificates(store):
                if encoding == "x509_asn" and (
                    trust is True or ssl.Purpose.SERVER_AUTH.oid in trust
                ):
                    der.extend(cert)
            if der:
                ctx.load_verify_locations(cadata=bytes(der))
    compiled_file, compiled_dir = _DEFAULT_PATHS.openssl_cafile, _DEFAULT_PATHS.openssl_capath
    cafile = compiled_file if os.path.isfile(compiled_file) else None
    capath = compiled_dir if os.path.isdir(compiled_dir) else None
    if cafile is None and capath is None:
        return
    try:
        ctx.load_verify_locations(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        # Like the reference's native-roots loading: a broken platform store is a warning,
        # not a reason to refuse a configured bundle.
        logger.warning(
            "could not load system root certificates from %s: %s",
            cafile or capath,
            exc,
            extra={"cafile": cafile, "capath": capath},
        )


def _file_identity(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # reading will fail and raise ReadCaFileError; nothing to cache
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _build(selection: CaSelection | None, *, openssl_env_present: bool) -> ssl.SSLContext:
    certificates = load_ca_bundle(selection) if selection is not None else ()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # Bundle certificates are trust anchors even when they are intermediates, as in the
    # reference (rustls roots) and Python 3.13's create_default_context.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    _load_system_roots(ctx, openssl_env_present=openssl_env_present)
    if selection is None:
        logger.info("using system root certificates", extra={"ca_env": None})
        return ctx
    for index, der in enumerate(certificates, start=1):
        try:
            ctx.load_verify_locations(cadata=der)
        except (ssl.SSLError, ValueError) as exc:
            raise RegisterCertificateError(
                path=selection.path, env=selection.env, index=index, reason=str(exc)
            ) from exc
    logger.info(
        "using CA bundle %s selected by %s (%d certificates) on top of system roots",
        selection.path,
        selection.env,
        len(certificates),
        extra={
            "ca_env": selection.env,
            "ca_path": selection.path,
            "ca_certificates": len(certificates),
        },
    )
    return ctx


def client_ssl_context(*, environ: Mapping[str, str] = os.environ) -> ssl.SSLContext:
    """Return the shared client TLS context for every outbound HTTPS/WSS connection.

    Trusts the system roots plus the bundle selected by ``REALTALK_CA_CERTIFICATE`` (else
    ``SSL_CERT_FILE``); verifies hostnames. The context is cached per selection and bundle
    file identity (mtime, size, inode), so calling this per connection is cheap; the first call
    reads the bundle synchronously. Treat the result as read-only: it is shared.

    Raises:
        TlsConfigError: the selected bundle cannot be read, parsed or registered (one of
            ``ReadCaFileError``, ``InvalidCaFileError``, ``RegisterCertificateError``).
    """
    global _cached
    selection = select_ca_bundle(environ)
    identity = _file_identity(selection.path) if selection is not None else None
    env_present = _openssl_env_present()
    key: _CacheKey = (selection, identity, env_present)
    with _lock:
        if _cached is not None and _cached[0] == key and (selection is None or identity):
            return _cached[1]
        ctx = _build(selection, openssl_env_present=env_present)
        _cached = (key, ctx)
        return ctx


def ssl_for_url(url: str, *, environ: Mapping[str, str] = os.environ) -> ssl.SSLContext | None:
    """Return the shared context for ``https``/``wss`` URLs and None for anything else.

    For aiohttp pass ``ssl=ssl_for_url(url) or True``: aiohttp does not accept None, its
    default (``ssl=True``) builds aiohttp's own context, and the argument is ignored for
    ``http://`` and ``ws://``.
    """
    scheme = urlsplit(url).scheme.lower()
    return client_ssl_context(environ=environ) if scheme in _TLS_SCHEMES else None


def reset_cache() -> None:
    """Forget the cached context (tests, or after changing the environment)."""
    global _cached
    with _lock:
        _cached = None

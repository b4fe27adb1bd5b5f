"""Turn a certificate-verification failure, however wrapped, into one clear line."""

from __future__ import annotations

import ssl

from realtalk.tls._errors import CA_CERTIFICATE_ENV

__all__ = ["describe_tls_failure"]

_ADVICE = (
    f"If you are behind a proxy or use a private CA, set {CA_CERTIFICATE_ENV} "
    "to your CA bundle (PEM)."
)
_MAX_DEPTH = 32  # exception chains are short; this only guards against pathological graphs


def _find(exc: BaseException) -> tuple[ssl.SSLCertVerificationError, str | None] | None:
    """Depth-first over cause/context/group members; returns the error and a host if known."""
    # Imported here: this runs only on a failure path, and aiohttp costs ~250 ms to import,
    # which every CLI command (even --help) would otherwise pay through realtalk.tls.
    from aiohttp import ClientConnectorCertificateError

    stack: list[tuple[BaseException, str | None]] = [(exc, None)]
    seen: set[int] = set()
    while stack and len(seen) < _MAX_DEPTH:
        current, host = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ClientConnectorCertificateError):
            host = host or current.host
            inner = current.certificate_error
            if isinstance(inner, ssl.SSLCertVerificationError):
                return inner, host
        if isinstance(current, ssl.SSLCertVerificationError):
            return current, host
        linked: list[BaseException] = []
        if isinstance(current, BaseExceptionGroup):
            linked.extend(current.exceptions)
        if current.__context__ is not None:
            linked.append(current.__context__)
        if current.__cause__ is not None:
            linked.append(current.__cause__)
        # Pushed last = visited first: cause before context before group members.
        stack.extend((item, host) for item in linked)
    return None


def describe_tls_failure(exc: BaseException, *, host: str | None = None) -> str | None:
    """Explain a TLS certificate-verification failure, or return None if ``exc`` is not one.

    Recognises ``ssl.SSLCertVerificationError`` itself, as the ``__cause__``/``__context__`` of
    another error (e.g. a realtalk ``ConnectError``), inside an exception group, and inside
    aiohttp's ``ClientConnectorCertificateError`` (which also supplies the host).

    Args:
        exc: the exception caught around a connection attempt.
        host: the host that was contacted, when the caller knows it better than ``exc``.
    """
    found = _find(exc)
    if found is None:
        return None
    error, found_host = found
    # verify_message/reason are set by the ssl module; an instance built elsewhere lacks them.
    reason = getattr(error, "verify_message", None) or getattr(error, "reason", None)
    reason = (reason or str(error) or "certificate verify failed").strip().rstrip(".")
    target = host or found_host
    where = f" for {target}" if target else ""
    return f"TLS certificate verification failed{where}: {reason}. {_ADVICE}"

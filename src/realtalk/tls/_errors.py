"""Typed errors for custom CA selection and loading.

Message shapes follow the reference catalogue (custom CA support), with our variable name.
"""

from __future__ import annotations

from realtalk._errors import TlsConfigError

__all__ = [
    "CA_CERTIFICATE_ENV",
    "CA_HINT",
    "SSL_CERT_FILE_ENV",
    "InvalidCaFileError",
    "ReadCaFileError",
    "RegisterCertificateError",
]

CA_CERTIFICATE_ENV = "REALTALK_CA_CERTIFICATE"
SSL_CERT_FILE_ENV = "SSL_CERT_FILE"

CA_HINT = (
    f"If you set {CA_CERTIFICATE_ENV} or {SSL_CERT_FILE_ENV}, ensure it points to a PEM file "
    "containing one or more CERTIFICATE blocks, or unset it to use system roots."
)


def _os_error_text(exc: OSError) -> str:
    # Like the reference's io::Error display: strerror plus the numeric code, without
    # repeating the path (the message names it already).
    if exc.strerror and exc.errno is not None:
        return f"{exc.strerror} (os error {exc.errno})"
    return str(exc) or type(exc).__name__


class ReadCaFileError(TlsConfigError):
    """The selected CA bundle file could not be read; ``errno`` mirrors the OS error."""

    def __init__(self, *, path: str, env: str, error: OSError) -> None:
        super().__init__(
            f"Failed to read CA certificate file {path} selected by {env}: "
            f"{_os_error_text(error)}. {CA_HINT}"
        )
        self.path = path
        self.env = env
        self.errno = error.errno


class InvalidCaFileError(TlsConfigError):
    """The selected CA bundle was read but holds no usable certificates."""

    def __init__(self, *, path: str, env: str, detail: str) -> None:
        super().__init__(
            f"Failed to load CA certificates from {path} selected by {env}: {detail}. {CA_HINT}"
        )
        self.path = path
        self.env = env
        self.detail = detail


class RegisterCertificateError(TlsConfigError):
    """OpenSSL rejected one certificate of the bundle (``index`` is 1-based)."""

    def __init__(self, *, path: str, env: str, index: int, reason: str) -> None:
        super().__init__(
            f"Failed to parse certificate #{index} from {path} selected by {env}: "
            f"{reason}. {CA_HINT}"
        )
        self.path = path
        self.env = env
        self.index = index
        self.reason = reason

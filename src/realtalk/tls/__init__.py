"""Custom CA trust for every outbound HTTPS/WSS connection.

Every client connection takes its ``SSLContext`` from :func:`client_ssl_context` (or
:func:`ssl_for_url`). The context trusts the system roots plus the PEM bundle named by
``REALTALK_CA_CERTIFICATE``, else ``SSL_CERT_FILE`` (empty values count as unset), and verifies
hostnames. Bundle problems raise subclasses of :class:`realtalk.TlsConfigError`.
"""

from realtalk.tls._ca import CaSelection, load_ca_bundle, select_ca_bundle
from realtalk.tls._context import client_ssl_context, reset_cache, ssl_for_url
from realtalk.tls._diagnose import describe_tls_failure
from realtalk.tls._errors import (
    CA_CERTIFICATE_ENV,
    CA_HINT,
    SSL_CERT_FILE_ENV,
    InvalidCaFileError,
    ReadCaFileError,
    RegisterCertificateError,
)
from realtalk.tls._pem import first_der_element

__all__ = [
    "CA_CERTIFICATE_ENV",
    "CA_HINT",
    "SSL_CERT_FILE_ENV",
    "CaSelection",
    "InvalidCaFileError",
    "ReadCaFileError",
    "RegisterCertificateError",
    "client_ssl_context",
    "describe_tls_failure",
    "first_der_element",
    "load_ca_bundle",
    "reset_cache",
    "select_ca_bundle",
    "ssl_for_url",
]

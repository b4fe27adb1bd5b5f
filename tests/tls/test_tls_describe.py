"""describe_tls_failure on exceptions built without sockets (real ones: test_tls_handshake)."""

from __future__ import annotations

import ssl

import pytest

from realtalk import ConnectError
from realtalk.tls import describe_tls_failure

ADVICE = (
    "If you are behind a proxy or use a private CA, set REALTALK_CA_CERTIFICATE "
    "to your CA bundle (PEM)."
)


def _verify_error(
    message: str = "unable to get local issuer certificate",
) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_message = message  # set by the ssl module on real failures
    error.verify_code = 20
    return error


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("nope"),
        ConnectionRefusedError(111, "Connection refused"),
        ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
        ConnectError("could not connect"),
    ],
)
def test_other_errors_are_not_described(exc: BaseException) -> None:
    assert describe_tls_failure(exc) is None


def test_direct() -> None:
    assert describe_tls_failure(_verify_error()) == (
        f"TLS certificate verification failed: unable to get local issuer certificate. {ADVICE}"
    )


def test_host_argument_and_trailing_period() -> None:
    error = _verify_error("Hostname mismatch, certificate is not valid for 'a.test'.")
    assert describe_tls_failure(error, host="b.test") == (
        "TLS certificate verification failed for b.test: "
        f"Hostname mismatch, certificate is not valid for 'a.test'. {ADVICE}"
    )


def test_found_through_cause() -> None:
    error = _verify_error()
    try:
        try:
            raise error
        except ssl.SSLError as exc:
            raise ConnectError("connect failed") from exc
    except ConnectError as wrapped:
        assert describe_tls_failure(wrapped) is not None
        assert wrapped.__cause__ is error


def test_found_through_context() -> None:
    try:
        try:
            raise _verify_error()
        except ssl.SSLError:
            raise ConnectError("connect failed")  # noqa: B904 - implicit chaining on purpose
    except ConnectError as wrapped:
        assert wrapped.__cause__ is None
        assert describe_tls_failure(wrapped) is not None


def test_found_inside_an_exception_group() -> None:
    group = ExceptionGroup("tasks failed", [ValueError("other"), ConnectError("x")])
    group.exceptions[1].__cause__ = _verify_error()
    assert describe_tls_failure(group) is not None


def test_python_built_error_without_verify_message() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    described = describe_tls_failure(error)
    assert described is not None
    assert described.startswith("TLS certificate verification failed: ")
    assert described.endswith(ADVICE)


def test_cycles_terminate() -> None:
    first, second = ConnectError("a"), ConnectError("b")
    first.__context__ = second
    second.__context__ = first
    assert describe_tls_failure(first) is None

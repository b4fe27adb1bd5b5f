"""The one exception-mapping helper (a unit test of the private ``realtalk._boundary``).

Its callers' messages are proven on real sockets in tests/transports, tests/agent and
tests/app_server; this pins the helper's own rules.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from realtalk import ConfigError, ConnectError, ProtocolError, RealtalkError
from realtalk._boundary import Redacted, Rule, connect_rules, map_exceptions


def _through(exc: BaseException, *rules: Rule) -> BaseException:
    """What comes out of ``map_exceptions(*rules)`` when ``exc`` is raised inside."""
    try:
        with map_exceptions(*rules):
            raise exc
    except BaseException as mapped:  # noqa: BLE001 - the test inspects what came out
        return mapped
    raise AssertionError("unreachable")


def test_the_first_rule_that_converts_wins_and_chains_the_cause() -> None:
    original = KeyError("k")
    mapped = _through(
        original,
        (ValueError, lambda exc: ProtocolError("not this one")),
        (LookupError, lambda exc: ConfigError("first")),
        (KeyError, lambda exc: ConfigError("second")),
    )
    assert isinstance(mapped, ConfigError) and str(mapped) == "first"
    assert mapped.__cause__ is original


def test_a_rule_that_declines_leaves_the_exception_to_the_next() -> None:
    mapped = _through(
        ValueError("x"),
        (ValueError, lambda exc: None),
        (ValueError, lambda exc: ProtocolError("next")),
    )
    assert isinstance(mapped, ProtocolError) and str(mapped) == "next"


def test_redacted_errors_hide_the_original() -> None:
    mapped = _through(
        ValueError("http://user:s3cret@proxy"),
        (ValueError, lambda exc: Redacted(ConfigError("safe"))),
    )
    assert isinstance(mapped, ConfigError)
    assert mapped.__cause__ is None and mapped.__suppress_context__


@pytest.mark.parametrize(
    "raised",
    [ConfigError("ours already"), KeyError("no rule for it"), asyncio.CancelledError()],
)
def test_ours_unmatched_and_cancellation_pass_through(raised: BaseException) -> None:
    mapped = _through(
        raised,
        (RealtalkError, lambda exc: ProtocolError("never")),
        (ValueError, lambda exc: ProtocolError("never")),
    )
    assert mapped is raised


def _connect(exc: BaseException, **options: Any) -> BaseException:
    rules = connect_rules(
        "the test server at h.example", timeout_s=2.5, network=(OSError,), **options
    )
    return _through(exc, *rules)


def test_connect_rules_say_what_timed_out() -> None:
    mapped = _connect(TimeoutError())
    assert isinstance(mapped, ConnectError)
    assert str(mapped) == (
        "timed out after 2.5s waiting for the test server at h.example; "
        "check the base URL and the network"
    )


def test_a_timeout_names_the_setting_to_raise() -> None:
    mapped = _connect(TimeoutError(), setting="connect_timeout_s / --connect-timeout")
    assert str(mapped) == (
        "timed out after 2.5s (connect_timeout_s / --connect-timeout) waiting for the test "
        "server at h.example; check the base URL and the network, or raise connect_timeout_s"
    )


def test_connect_rules_give_the_os_reason_and_the_hint() -> None:
    mapped = _connect(ConnectionRefusedError(111, "Connect call failed ('h', 1)"), hint="do X")
    assert str(mapped) == (
        "could not connect to the test server at h.example: Connect call failed ('h', 1); do X"
    )


def test_connect_rules_explain_a_certificate_failure() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    mapped = _connect(error, host="h.example")
    assert isinstance(mapped, ConnectError)
    assert str(mapped).startswith(
        "TLS certificate verification failed for h.example: self-signed certificate."
    )
    assert mapped.__cause__ is error

"""Secrets scrubbing: texts, log lines and command environments."""

from __future__ import annotations

import logging

from realtalk._secrets import ScrubbingFormatter, command_environment, register_secret, scrub


def test_scrub_bearer_tokens_keys_and_registered_values() -> None:
    echoed = '{"error":{"message":"bad header Authorization: Bearer sk-proj-abc123DEF456ghi789"}}'
    assert scrub(echoed) == '{"error":{"message":"bad header Authorization: Bearer ***"}}'
    assert scrub("key sk-0123456789abcdefghij here") == "key sk-*** here"
    assert scrub("Basic dXNlcjpwYXNzMTIz") == "Basic ***"
    register_secret("an-opaque-token-1")
    assert scrub("token=an-opaque-token-1;") == "token=***;"
    register_secret("short")  # too short to scrub safely: ignored
    assert scrub("short story about bearer tokens") == "short story about bearer tokens"


def test_command_environment_drops_secret_names_unless_allowed() -> None:
    environ = {
        "OPENAI_API_KEY": "k",
        "REALTALK_APP_SERVER_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "a",
        "github_token": "g",
        "MY_SECRET": "s",
        "PGPASSWORD": "p",
        "PATH": "/usr/bin",
        "KEYBOARD": "us",
    }
    env = command_environment(environ, ["github_*"], extra={"TMPDIR": "/tmp"})
    assert env == {"PATH": "/usr/bin", "KEYBOARD": "us", "github_token": "g", "TMPDIR": "/tmp"}
    # The API key and the app-server token can never be allowed.
    assert "OPENAI_API_KEY" not in command_environment(environ, ["*"])
    assert "REALTALK_APP_SERVER_TOKEN" not in command_environment(environ, ["*"])


def test_formatter_scrubs_messages_fields_and_tracebacks() -> None:
    formatter = ScrubbingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("Authorization: Bearer sk-abcdefghijklmnop123456")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, "f", 1, "failed %s", ("sk-" + "z1" * 10,), None
        )
        import sys

        record.exc_info = sys.exc_info()
    record.header = "Bearer abcdefgh12345678"
    text = formatter.format(record)
    assert "abcdefghijklmnop123456" not in text and "z1z1" not in text
    assert "abcdefgh12345678" not in text
    assert "header='Bearer ***'" in text

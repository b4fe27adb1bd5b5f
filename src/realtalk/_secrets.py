"""Keeping secrets out of text and out of the environment of commands (pure, no I/O).

* :func:`scrub` replaces secrets in a text before it is shown, logged or handed to
  a model: every value registered with :func:`register_secret` (the API key and the
  app-server token are registered when settings load), ``Bearer <token>`` and
  ``Basic <credentials>`` values, and anything shaped like an OpenAI key
  (``sk-`` followed by 16 or more key characters). A server that echoes our
  ``Authorization`` header in a 401 body therefore shows ``Bearer ***``.
* :func:`command_environment` is the environment a command the agent runs gets:
  the process environment without ``OPENAI_API_KEY``, ``REALTALK_APP_SERVER_TOKEN``
  and every name matching :data:`SECRET_NAME_PATTERNS` (case-insensitive), unless
  a pattern of ``allow`` (the ``[agent] env_allow`` list) names it.
* :class:`ScrubbingFormatter` is a logging formatter whose every line is scrubbed,
  exception texts included.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "ALWAYS_SECRET_NAMES",
    "SECRET_NAME_PATTERNS",
    "ScrubbingFormatter",
    "command_environment",
    "is_secret_name",
    "register_secret",
    "scrub",
]

REDACTED: Final = "***"

ALWAYS_SECRET_NAMES: Final = frozenset({"OPENAI_API_KEY", "REALTALK_APP_SERVER_TOKEN"})
"""Never passed to a command, whatever ``env_allow`` says."""

SECRET_NAME_PATTERNS: Final = ("*_KEY", "*_TOKEN", "*_SECRET", "*PASSWORD*")
"""Environment names (case-insensitive) kept from commands unless allowed."""

_MIN_SECRET_CHARS: Final = 8
"""Shorter registered values are not scrubbed as text (they would mangle ordinary words)."""

_PATTERNS: Final = (
    # Authorization header values, wherever they are echoed (JSON, headers, prose).
    # A token has 8+ characters with a digit, or 16+ characters, so prose ("bearer
    # tokens", "basic authentication") is left alone.
    re.compile(
        r"(?i)\b(bearer|basic)(\s+|%20)"
        r"(?:(?=[A-Za-z._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{8,}|[A-Za-z0-9._~+/=\-]{16,})"
    ),
    # OpenAI-style keys: sk-..., sk-proj-..., sk-svcacct-...
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
)

_lock = threading.Lock()
_registered: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Scrub ``value`` from every text from now on (ignored when short or empty)."""
    global _registered
    if not value or len(value) < _MIN_SECRET_CHARS:
        return
    with _lock:
        if value not in _registered:
            # Longest first, so a secret containing another is replaced whole.
            _registered = tuple(sorted((*_registered, value), key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with registered secrets, bearer tokens and API keys replaced by ``***``."""
    for value in _registered:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(_redact_match, text)
    return text


def _redact_match(match: re.Match[str]) -> str:
    if match.lastindex:  # "Bearer <token>": keep the scheme word, it says what was there
        return f"{match.group(1)}{match.group(2)}{REDACTED}"
    return f"sk-{REDACTED}"


def is_secret_name(name: str, allow: Iterable[str] = ()) -> bool:
    """True when the variable ``name`` must not reach a command."""
    upper = name.upper()
    if upper in ALWAYS_SECRET_NAMES:
        return True
    if any(fnmatch.fnmatchcase(upper, pattern.upper()) for pattern in allow):
        return False
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in SECRET_NAME_PATTERNS)


def command_environment(
    environ: Mapping[str, str],
    allow: Iterable[str] = (),
    *,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a command: ``environ`` without secrets, plus ``extra``."""
    allowed = tuple(allow)
    env = {k: v for k, v in environ.items() if not is_secret_name(k, allowed)}
    env.update(extra or {})
    return env


class ScrubbingFormatter(logging.Formatter):
    """A formatter that appends structured fields (``extra``) and scrubs every line."""

    _STANDARD: Final = frozenset(
        vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
    )

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [
            f"{key}={value!r}" if isinstance(value, str) and " " in value else f"{key}={value}"
            for key, value in vars(record).items()
            if key not in self._STANDARD and not key.startswith("_")
        ]
        if fields:
            first, newline, rest = text.partition("\n")
            text = f"{first} [{' '.join(fields)}]{newline}{rest}"
        return scrub(text)

"""The per-run log file: ``$XDG_STATE_HOME/realtalk/log/realtalk.log``, rotated.

``realtalk demo``, ``talk``, ``exec`` and ``app-server`` append INFO records
(startup timing with ``elapsed_ms``/``total_elapsed_ms``, ``transport``,
``call_id`` and the realtime session id, the sandbox decision, every command the
agent ran with its exit code) to this file whatever ``-v`` says. Each run starts
with a ``realtalk run started`` line. Lines are scrubbed of secrets
(:class:`~realtalk._secrets.ScrubbingFormatter`); the file is created ``0600``
in a ``0700`` folder. It rotates at :data:`MAX_BYTES` keeping
:data:`BACKUP_COUNT` old files. A log that cannot be opened is a one-line
warning on stderr, never a failure of the run.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from realtalk._secrets import ScrubbingFormatter, scrub

__all__ = ["LOG_FORMAT", "close_run_log", "default_log_path", "open_run_log"]

MAX_BYTES: Final = 5 * 1024 * 1024
BACKUP_COUNT: Final = 3
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MARK: Final = "_realtalk_run_log"


def default_log_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "realtalk" / "log" / "realtalk.log"


def open_run_log(command: str, *, version: str) -> Path | None:
    """Attach the log file to the root logger (replacing an earlier one); its path."""
    close_run_log()
    path = default_log_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        os.close(fd)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
    except OSError as exc:
        reason = scrub(exc.strerror or str(exc))
        print(f"realtalk: warning: cannot write the log file {path}: {reason}", file=sys.stderr)
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(ScrubbingFormatter(LOG_FORMAT))
    setattr(handler, _MARK, True)
    logging.getLogger().addHandler(handler)
    logging.getLogger("realtalk").info(
        "realtalk run started",
        extra={"command": command, "pid": os.getpid(), "version": version},
    )
    return path


def close_run_log() -> None:
    """Detach and close the log file (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
            handler.close()

"""An interpreter that a command inside the sandbox can run.

The sandbox gives every command a private, empty ``/tmp``, so an interpreter that lives
under the host's ``/tmp`` (the venv of a clone made there) is not found inside it
(``bwrap: execvp …: No such file or directory``). The venv's base interpreter is; the
tests' sandboxed scripts need nothing but the standard library.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _visible_in_the_sandbox(path: str) -> bool:
    return not Path(os.path.abspath(path)).is_relative_to("/tmp")  # the path, not its target


_BASE: str = getattr(sys, "_base_executable", sys.executable)

SANDBOXED_PYTHON = sys.executable if _visible_in_the_sandbox(sys.executable) else _BASE
"""``sys.executable``, or the venv's base interpreter when the venv is under ``/tmp``."""

"""A FIFO a test's command blocks on (``cat FIFO``) until the test writes to it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def fifo_at(path: Path) -> Iterator[Path]:
    """Make the FIFO ``path``; on the way out, release whoever still blocks on it.

    A failed test may leave a command blocked reading, or a writer thread blocked
    writing: opening the other end of each without blocking releases them.
    """
    os.mkfifo(path)
    try:
        yield path
    finally:
        for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
            with contextlib.suppress(OSError):
                os.close(os.open(path, flags))

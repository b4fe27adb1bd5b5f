"""Processes seen from the outside: find them by command line, wait for their exit.

For tests that must prove a command (and what it started) is gone, including ones that
are not our children (a sandbox's, a subprocess's): ``pidfd_open`` makes "the process
exited" an event the loop can wait on, so nothing is polled.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path


def pids_running(*argv: str) -> list[int]:
    """Pids of live processes whose command line is exactly ``argv``."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() == wanted and not _zombie(entry):
                found.append(int(entry.name))
        except OSError:
            continue  # it ended meanwhile
    return found


def _zombie(entry: Path) -> bool:
    return (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


async def wait_gone(pid: int, timeout: float) -> None:  # noqa: ASYNC109 (bounded wait)
    """Return once ``pid`` has exited (a zombie counts); TimeoutError after ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, readable)
    try:
        async with asyncio.timeout(timeout):
            await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)

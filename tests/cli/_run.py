"""``realtalk`` as a real subprocess, with the developer's own settings scrubbed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import NamedTuple


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def clean_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "REALTALK_"))
        and k not in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")
    }
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.update(extra or {})
    return env


async def run_talk(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 60.0,
    cwd: Path | None = None,
) -> Run:
    """Run ``realtalk talk ARGS`` to the end (killed after ``timeout_s``)."""
    return await run_realtalk(tmp_path, "talk", *args, env=env, timeout_s=timeout_s)


async def run_realtalk(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 60.0,
    python_flags: tuple[str, ...] = (),
) -> Run:
    """Run ``realtalk ARGS`` to the end (killed after ``timeout_s``); logs in tmp_path/state.

    ``python_flags`` go to the interpreter (``("-X", "importtime")``, say).
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *python_flags,
        "-m",
        "realtalk",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path, env),
        cwd=cwd,
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def log_file(tmp_path: Path) -> Path:
    """The run log of commands started by :func:`run_realtalk` with this ``tmp_path``."""
    return tmp_path / "state" / "realtalk" / "log" / "realtalk.log"

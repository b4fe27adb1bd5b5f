"""``realtalk exec … | head``: a reader that stops early is not an error to report."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

from .._fifo import fifo_at
from ._run import clean_env

TIMEOUT_S = 60.0


def _read_until(fd: int, needle: bytes) -> bytes:
    seen = b""
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], TIMEOUT_S)
        assert ready, f"no {needle!r} on stdout within {TIMEOUT_S} s: {seen!r}"
        chunk = os.read(fd, 4096)
        assert chunk, f"stdout ended before {needle!r}: {seen!r}"
        seen += chunk
    return seen


def test_exec_into_a_pipe_its_reader_closed_exits_141_without_an_error(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    with fifo_at(ws / "gate.fifo") as fifo:
        script = f"echo first; cat {fifo.name}; seq 1 200"
        proc = subprocess.Popen(
            [sys.executable, "-m", "realtalk", "exec", "--offline", f'run `sh -c "{script}"`'],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(tmp_path),
            cwd=ws,
        )
        try:
            assert proc.stdout is not None
            _read_until(proc.stdout.fileno(), b"  first\n")
            proc.stdout.close()  # as `head -1` does once it has its line
            fifo.write_text("go\n")  # the command goes on printing into the closed pipe
            _, err = proc.communicate(timeout=TIMEOUT_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 128 + 13, err.decode()
    assert b"Broken pipe" not in err and b"Traceback" not in err, err.decode()

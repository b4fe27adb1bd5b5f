"""``realtalk exec`` shows a running command's output as it comes (real subprocess,
offline emulator, real sandbox): indented under the command in text, one
``item.output_delta`` JSON line per piece with ``--json``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .._fifo import fifo_at
from ._run import clean_env

TIMEOUT_S = 60.0


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    return root


@pytest.fixture
def fifo(ws: Path) -> Iterator[Path]:
    """A FIFO the command blocks on (``cat``) until the test writes to it."""
    with fifo_at(ws / "gate.fifo") as path:
        yield path


async def exec_while_blocked(tmp_path: Path, ws: Path, fifo: Path, *flags: str) -> list[str]:
    """Run ``realtalk exec`` on a command that prints, then blocks on ``fifo``.

    Returns stdout's lines: those read before the FIFO was released (the command
    still running), a ``---`` line, then the rest.
    """
    script = f"echo first; echo second; cat {fifo.name}; echo last"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk",
        "exec",
        "--offline",
        *flags,
        f'run `sh -c "{script}"`',
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path),
        cwd=ws,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(TIMEOUT_S):
            # "  second" in text, a delta ending with "second\n" in JSON
            while not any(line == "  second" or 'second\\n"' in line for line in lines):
                line = await proc.stdout.readline()
                assert line, "stdout ended before the command's first lines were shown"
                lines.append(line.decode().rstrip("\n"))
            assert proc.returncode is None
            lines.append("---")
            await asyncio.to_thread(fifo.write_text, "released\n")
            rest, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    return lines + rest.decode().splitlines()


async def test_text_output_stands_indented_under_the_command_as_it_comes(
    tmp_path: Path, ws: Path, fifo: Path
) -> None:
    lines = await exec_while_blocked(tmp_path, ws, fifo)
    command = lines.index(next(line for line in lines if line.startswith("$ sh -c")))
    assert lines[command + 1 : command + 7] == [
        "  first",
        "  second",
        "---",  # shown while the command still ran
        "  released",
        "  last",
        "[exit 0]",
    ]


async def test_json_has_one_line_per_output_delta(tmp_path: Path, ws: Path, fifo: Path) -> None:
    lines = await exec_while_blocked(tmp_path, ws, fifo, "--json")
    split = lines.index("---")
    before = [json.loads(line) for line in lines[:split]]
    after = [json.loads(line) for line in lines[split + 1 :]]
    started = next(x["item"] for x in before if x["type"] == "item.started")
    assert started["type"] == "command_execution"
    deltas = [x for x in before + after if x["type"] == "item.output_delta"]
    assert all(set(x) == {"type", "item_id", "delta"} for x in deltas)
    assert {x["item_id"] for x in deltas} == {started["id"]}
    assert any(x["type"] == "item.output_delta" for x in before)  # streamed, not at the end
    streamed = "".join(x["delta"] for x in deltas)
    assert streamed == "first\nsecond\nreleased\nlast\n"
    done = next(x["item"] for x in after if x["type"] == "item.completed")
    assert done["id"] == started["id"] and done["aggregated_output"] == streamed
    assert after[-1]["type"] == "turn.completed"

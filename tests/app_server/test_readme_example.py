"""The README's app-server example, run as written against ``realtalk app-server`` offline.

The example's ``-->`` lines are sent to a real ``realtalk app-server`` subprocess on
stdio, with no API key, no base URL and no config file (it must start its embedded
emulator), and every ``<--`` line must arrive: responses by id, notifications by method,
each matching the README's JSON. Ids are shortened in the README (``thr_2048``): they
are mapped to the real ones, and the requests use the real ones. What depends on the
machine (user agent, cwd, timestamps) is compared by type, and ``...`` in the README
stands for "more fields" (in an object) or "any items" (``[...]``).
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import msgspec

from ..cli._run import clean_env

README = Path(__file__).resolve().parents[2] / "README.md"
TIMEOUT_S = 20.0
_ID = re.compile(r"^(thr|turn|item)_[0-9A-Za-z]+$")
_MACHINE_DEPENDENT = frozenset({"userAgent", "cwd", "createdAt", "updatedAt", "realtimeSessionId"})


def example_lines() -> list[tuple[str, str]]:
    """(direction, JSON text) of the README's example session, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```\n", text.index("Example session over stdio")) + 4
    block = text[start : text.index("```", start)]
    lines = [(line[:3], line[4:]) for line in block.splitlines() if line[:3] in ("-->", "<--")]
    assert lines, "the README's example session is empty"
    return lines


def _loads_readme(text: str) -> Any:
    # `[...]` is "any items"; `, ...` in an object is "more fields".
    text = text.replace("[...]", "[]")
    text = re.sub(r",\s*\.\.\.\s*}", "}", text)
    return msgspec.json.decode(text)


class Ids:
    """README ids (``thr_2048``) <-> the real ones, bound on first sight."""

    def __init__(self) -> None:
        self.real: dict[str, str] = {}

    def match(self, shown: str, actual: object) -> bool:
        if not isinstance(actual, str) or actual.split("_")[0] != shown.split("_")[0]:
            return False
        return self.real.setdefault(shown, actual) == actual

    def substitute(self, text: str) -> str:
        for shown, actual in self.real.items():
            text = text.replace(f'"{shown}"', f'"{actual}"')
        return text


def matches(expected: Any, actual: Any, ids: Ids, key: str = "") -> bool:
    """``actual`` has everything ``expected`` shows (see the module docs)."""
    if key in _MACHINE_DEPENDENT:
        return type(actual) is type(expected)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k], ids, k) for k, v in expected.items()
        )
    if isinstance(expected, list):
        if not expected:
            return isinstance(actual, list)
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(e, a, ids) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, str) and _ID.match(expected):
        return ids.match(expected, actual)
    return bool(expected == actual)


async def test_readme_app_server_example_works_offline_as_written(tmp_path: Path) -> None:
    workspace = tmp_path / "work"
    workspace.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk",
        "app-server",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(tmp_path),
        cwd=workspace,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    received: list[dict[str, Any]] = []
    consumed: set[int] = set()
    ids = Ids()

    stdout, stderr = proc.stdout, proc.stderr

    async def next_message() -> None:
        line = await stdout.readline()
        assert line, f"the app-server exited: {(await stderr.read()).decode()}"
        received.append(msgspec.json.decode(line))

    async def expect(shown: str) -> None:
        """Wait for the first unconsumed message that matches ``shown``."""
        want = _loads_readme(shown)
        method = want.get("method")
        seen: list[dict[str, Any]] = []
        index = 0
        try:
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    while index >= len(received):
                        await next_message()
                    got = received[index]
                    same_kind = (
                        got.get("method") == method
                        if method is not None
                        else "method" not in got and got.get("id") == want["id"]
                    )
                    if index not in consumed and same_kind:
                        bound = dict(ids.real)
                        if matches(want, got, ids):
                            consumed.add(index)
                            return
                        ids.real = bound  # a failed match binds nothing
                        seen.append(got)
                    index += 1
        except TimeoutError:
            raise AssertionError(f"README shows {shown}\nthe server sent {seen}") from None

    try:
        notice = await asyncio.wait_for(stderr.readline(), TIMEOUT_S)
        assert notice.decode().startswith("no API key or base URL: using the offline emulator at ")
        for direction, text in example_lines():
            if direction == "-->":
                proc.stdin.write(ids.substitute(text).encode() + b"\n")
                await proc.stdin.drain()
            else:
                await expect(text)
    finally:
        if proc.returncode is None:
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), TIMEOUT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0

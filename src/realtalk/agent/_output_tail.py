"""A running command's output, as it comes, for UIs: a few bounded ``CommandOutput`` events.

The model gets a command's output when it ends (``CommandFinished``, capped by the
tool). A person watching wants to see it while it runs: :class:`OutputTail` turns the
output bytes into whole lines (``\\r`` rewrites a line, as a terminal shows progress
bars), keeps the newest :data:`TAIL_LINES` (each cut at :data:`LINE_CHARS`), and emits
them (each line scrubbed of secrets before it is cut) at most once per :data:`INTERVAL_S`. Lines that scroll past
between two events are dropped (overflow policy: the tail wins), so a command that
prints megabytes costs a handful of small events and never waits for a slow reader
more than one event at a time.
"""

from __future__ import annotations

import asyncio
import codecs
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Final

from realtalk._secrets import scrub
from realtalk.agent._interface import AgentEvent, CommandOutput

__all__ = ["INTERVAL_S", "LINE_CHARS", "TAIL_LINES", "OutputTail"]

INTERVAL_S: Final = 0.1
TAIL_LINES: Final = 20
LINE_CHARS: Final = 400
_OPEN_LINE_CHARS: Final = 8192  # a line without end is shown once it is this long

Emit = Callable[[AgentEvent], Awaitable[None]]


class OutputTail:
    """``async with OutputTail(call_id, emit) as tail``: feed it bytes with ``tail.feed``."""

    def __init__(self, call_id: str, emit: Emit, *, interval_s: float = INTERVAL_S) -> None:
        self.call_id = call_id
        self._emit = emit
        self._interval_s = interval_s
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._lines: deque[str] = deque(maxlen=TAIL_LINES)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OutputTail:
        self._task = asyncio.ensure_future(self._run())
        self._task.set_name(f"realtalk-output-tail-{self.call_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if exc is None:  # what is left, partial last line included
            tail = self._partial + self._decoder.decode(b"", final=True)
            self._partial = ""
            if tail:
                self._add(tail)
            await self._flush()

    def feed(self, chunk: bytes) -> None:
        """More output (never blocks: called by the reader of the command's pipe)."""
        text = self._partial + self._decoder.decode(chunk).replace("\r\n", "\n")
        *lines, partial = text.split("\n")
        if len(partial) > _OPEN_LINE_CHARS:  # a line without end: show what there is
            lines.append(partial)
            partial = ""
        self._partial = partial
        for line in lines:
            self._add(line)
        if lines:
            self._wake.set()

    def _add(self, line: str) -> None:
        line = line.rsplit("\r", 1)[-1]  # a carriage return rewrites the line
        self._lines.append(scrub(line)[:LINE_CHARS])  # scrubbed whole, then cut

    async def _flush(self) -> None:
        if self._lines:
            text = "\n".join(self._lines)
            self._lines.clear()
            await self._emit(CommandOutput(self.call_id, text))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            await asyncio.sleep(self._interval_s)  # the rate limit, not a synchronisation

"""``--events-jsonl``: one JSON object per wire message, in and out.

Each line is ``{"t": <monotonic ms>, "dir": "out"|"in", "event": <wire JSON>}``.
Audio payloads are replaced by ``"<N bytes base64>"`` so logs stay small and
never carry the person's voice; headers (and so API keys) are never written.
Every line is flushed as it is written, so a run that is killed keeps its log.
A write that fails (a full disk) stops the log; :meth:`EventLog.close` then
raises it as one :class:`ConfigError`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import IO, Any

import msgspec

from realtalk._errors import ConfigError

__all__ = ["EventLog"]

_AUDIO_FIELDS = {
    "input_audio_buffer.append": "audio",
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
    "conversation.output_audio.delta": "delta",
}
logger = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _elide(event: Any) -> Any:
    if isinstance(event, dict):
        field = _AUDIO_FIELDS.get(str(event.get("type")))
        if field is not None and isinstance(event.get(field), str):
            event = dict(event)
            event[field] = f"<{len(event[field])} bytes base64>"
    return event


class EventLog:
    """A wire tap that appends JSON lines to a file (``--events-jsonl``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._file: IO[bytes] = Path(path).open("wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ConfigError(f"cannot write --events-jsonl {path}: {exc}") from exc
        self._t0 = time.monotonic()
        self._error: OSError | None = None

    def __call__(self, direction: str, data: bytes) -> None:
        if self._error is not None or self._file.closed:
            return
        try:
            event = _decoder.decode(data)
        except msgspec.DecodeError:
            event = data.decode("utf-8", "replace")
        line = {
            "t": round((time.monotonic() - self._t0) * 1000.0, 3),
            "dir": direction,
            "event": _elide(event),
        }
        try:
            self._file.write(_encoder.encode(line) + b"\n")
            self._file.flush()
        except OSError as exc:
            self._error = exc
            logger.error("cannot write --events-jsonl %s (%s); logging stopped", self.path, exc)

    def close(self) -> None:
        """Close the file; raises ConfigError (once) if writing it failed."""
        if self._file.closed:
            return
        error = self._error
        try:
            self._file.close()
        except OSError as exc:
            error = error or exc
        if error is not None:
            raise ConfigError(f"cannot write --events-jsonl {self.path}: {error}") from error

"""``--events-jsonl``: one JSON object per wire message, in and out.

Each line is ``{"t": <monotonic ms>, "dir": "out"|"in", "event": <wire JSON>}``.
Audio payloads are replaced by ``"<N bytes base64>"`` so logs stay small and
never carry the person's voice; headers (and so API keys) are never written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

import msgspec

__all__ = ["EventLog"]

_AUDIO_FIELDS = {
    "input_audio_buffer.append": "audio",
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
    "conversation.output_audio.delta": "delta",
}
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
    """A wire tap that appends JSON lines to a file."""

    def __init__(self, path: str | Path) -> None:
        self._file: IO[bytes] = Path(path).open("wb")  # noqa: SIM115 - closed in close()
        self._t0 = time.monotonic()

    def __call__(self, direction: str, data: bytes) -> None:
        try:
            event = _decoder.decode(data)
        except msgspec.DecodeError:
            event = data.decode("utf-8", "replace")
        line = {
            "t": round((time.monotonic() - self._t0) * 1000.0, 3),
            "dir": direction,
            "event": _elide(event),
        }
        self._file.write(_encoder.encode(line) + b"\n")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

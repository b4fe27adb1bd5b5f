"""Responses API streaming events (server to client) and their SSE framing.

Pure: no sockets, no asyncio. WebSocket text frames and SSE ``data`` fields carry
the same JSON events.

* Events form one msgspec tagged union, :data:`ResponsesEvent`;
  :func:`decode_event` returns None for unknown or malformed events, which callers
  ignore (forward compatibility).
* :class:`SseParser` turns ``text/event-stream`` bytes into messages, whatever the
  chunk boundaries; :func:`encode_sse` is the server side.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

import msgspec

from realtalk._errors import ProtocolError
from realtalk.protocol._responses_wire import Item

__all__ = [
    "CustomToolCallInputDelta",
    "ErrorEvent",
    "OutputItemAdded",
    "OutputItemDone",
    "OutputTextDelta",
    "RateLimits",
    "ReasoningSummaryPartAdded",
    "ReasoningSummaryTextDelta",
    "ReasoningTextDelta",
    "ResponseCompleted",
    "ResponseCreated",
    "ResponseError",
    "ResponseFailed",
    "ResponseIncomplete",
    "ResponseInfo",
    "ResponsesEvent",
    "SseMessage",
    "SseParser",
    "WebsocketTiming",
    "decode_event",
    "encode_event",
    "encode_sse",
]


# -- events ----------------------------------------------------------------------------


class ResponseError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The ``error`` object of a failed response."""

    code: str | None = None
    message: str = ""


class ResponseInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The ``response`` object carried by lifecycle events."""

    id: str = ""
    status: str | None = None
    usage: dict[str, Any] | None = None
    error: ResponseError | None = None
    incomplete_details: dict[str, Any] | None = None


class _Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    pass


class ResponseCreated(_Event, frozen=True, tag="response.created"):
    response: ResponseInfo = msgspec.field(default_factory=ResponseInfo)


class OutputItemAdded(_Event, frozen=True, tag="response.output_item.added"):
    item: Item
    output_index: int = 0


class OutputItemDone(_Event, frozen=True, tag="response.output_item.done"):
    item: Item
    output_index: int = 0


class OutputTextDelta(_Event, frozen=True, tag="response.output_text.delta"):
    delta: str
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0


class ReasoningSummaryTextDelta(_Event, frozen=True, tag="response.reasoning_summary_text.delta"):
    delta: str
    item_id: str = ""
    summary_index: int = 0


class ReasoningSummaryPartAdded(_Event, frozen=True, tag="response.reasoning_summary_part.added"):
    item_id: str = ""
    summary_index: int = 0


class ReasoningTextDelta(_Event, frozen=True, tag="response.reasoning_text.delta"):
    delta: str
    item_id: str = ""
    content_index: int = 0


class CustomToolCallInputDelta(_Event, frozen=True, tag="response.custom_tool_call_input.delta"):
    delta: str
    item_id: str = ""


class ResponseCompleted(_Event, frozen=True, tag="response.completed"):
    response: ResponseInfo = msgspec.field(default_factory=ResponseInfo)


class ResponseFailed(_Event, frozen=True, tag="response.failed"):
    response: ResponseInfo = msgspec.field(default_factory=ResponseInfo)


class ResponseIncomplete(_Event, frozen=True, tag="response.incomplete"):
    response: ResponseInfo = msgspec.field(default_factory=ResponseInfo)


class RateLimits(_Event, frozen=True, tag="codex.rate_limits"):
    """A rate-limit snapshot (kept for completeness; not forwarded as a model event)."""


class WebsocketTiming(_Event, frozen=True, tag="responsesapi.websocket_timing"):
    """Server timing metrics for the WebSocket transport."""


class ErrorEvent(_Event, frozen=True, tag="error"):
    """A wrapped error frame; ``status`` mirrors an HTTP status when present."""

    status: int | None = None
    error: dict[str, Any] | None = None


ResponsesEvent = (
    ResponseCreated
    | OutputItemAdded
    | OutputItemDone
    | OutputTextDelta
    | ReasoningSummaryTextDelta
    | ReasoningSummaryPartAdded
    | ReasoningTextDelta
    | CustomToolCallInputDelta
    | ResponseCompleted
    | ResponseFailed
    | ResponseIncomplete
    | RateLimits
    | WebsocketTiming
    | ErrorEvent
)

_EVENT_DECODER: Final = msgspec.json.Decoder(ResponsesEvent)


def decode_event(data: str | bytes) -> ResponsesEvent | None:
    """Parse one streaming event; None for an unknown type or a malformed event."""
    try:
        event: ResponsesEvent = _EVENT_DECODER.decode(data)
    except msgspec.DecodeError:
        return None
    return event


def encode_event(event: ResponsesEvent) -> bytes:
    """JSON for one streaming event (server role)."""
    return msgspec.json.encode(event)


def encode_sse(event: ResponsesEvent) -> bytes:
    """One ``text/event-stream`` message for ``event`` (server role)."""
    name = str(type(event).__struct_config__.tag)
    return b"event: " + name.encode() + b"\ndata: " + encode_event(event) + b"\n\n"


# -- server-sent events ------------------------------------------------------------------


class SseMessage(NamedTuple):
    """One dispatched server-sent event."""

    event: str
    data: str
    id: str | None


_EOL: Final = re.compile(rb"\r\n|\r|\n")


class SseParser:
    """Incremental ``text/event-stream`` parser (WHATWG rules, any chunking).

    ``feed`` takes bytes as they arrive and returns the messages completed by them.
    Lines end with CRLF, LF or CR (a CR at the end of one chunk followed by LF at the
    start of the next counts once). An event without ``data`` is not dispatched; an
    unterminated event at end of stream is dropped, as the standard says.
    """

    def __init__(self, *, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._max = max_event_bytes
        self._buf = bytearray()
        self._skip_lf = False
        self._first_line = True
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._last_id: str | None = None

    def feed(self, chunk: bytes) -> list[SseMessage]:
        """Consume ``chunk``; return the messages it completes.

        Raises:
            ProtocolError: One line or event exceeds ``max_event_bytes``.
        """
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        self._buf += chunk
        out: list[SseMessage] = []
        start = 0
        for match in _EOL.finditer(self._buf):
            self._line(bytes(self._buf[start : match.start()]), out)
            start = match.end()
            # A lone CR at the very end may be the first half of a CRLF split across chunks.
            self._skip_lf = match.group() == b"\r" and start == len(self._buf)
        del self._buf[:start]
        if len(self._buf) > self._max:
            raise ProtocolError(f"server-sent event line longer than {self._max} bytes")
        return out

    def _line(self, raw: bytes, out: list[SseMessage]) -> None:
        line = raw.decode("utf-8", errors="replace")
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            self._dispatch(out)
            return
        if line.startswith(":"):
            return
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._max:
                raise ProtocolError(f"server-sent event larger than {self._max} bytes")
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._last_id = value

    def _dispatch(self, out: list[SseMessage]) -> None:
        if self._data:
            out.append(SseMessage(self._event or "message", "\n".join(self._data), self._last_id))
        self._event = ""
        self._data = []
        self._data_size = 0

"""Responses API wire format, client to server: URLs, headers, requests and items.

Pure: no sockets, no asyncio. The model client (WebSocket and HTTP/SSE) and the
emulator (server role) share these definitions, so both sides speak one format.
Streaming events (server to client) and SSE framing live in ``_responses_stream``.

* Requests: :class:`RequestBody` is the HTTP body; :class:`ResponseCreate` is the
  same body tagged ``"type": "response.create"`` for one WebSocket text frame.
  :func:`plan_request` decides between a full and an incremental request.
* Items are plain JSON objects (``dict``): the API has many item kinds and the
  client must replay unknown ones (e.g. reasoning) unchanged. Helpers build and read
  the kinds realtalk uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import msgspec

from realtalk._errors import ConfigError, ProtocolError

__all__ = [
    "ERR_BINARY_FRAME",
    "ERR_CLOSED_BY_SERVER",
    "ERR_IDLE_TIMEOUT",
    "ERR_STREAM_CLOSED",
    "FALLBACK_WARNING",
    "OPENAI_BETA_HEADER",
    "RESPONSES_WEBSOCKETS_BETA",
    "SESSION_ID_HEADER",
    "TURN_METADATA_HEADER",
    "TURN_STATE_HEADER",
    "FunctionCall",
    "Item",
    "RequestBody",
    "RequestPlan",
    "ResponseCreate",
    "as_function_call",
    "assistant_message",
    "build_request",
    "decode_http_request",
    "decode_ws_request",
    "encode_http_request",
    "encode_ws_request",
    "function_call",
    "function_call_output",
    "history_item",
    "message_text",
    "plan_request",
    "responses_url",
    "user_message",
    "websocket_url",
]

OPENAI_BETA_HEADER: Final = "OpenAI-Beta"
RESPONSES_WEBSOCKETS_BETA: Final = "responses_websockets=2026-02-06"
SESSION_ID_HEADER: Final = "session_id"
TURN_STATE_HEADER: Final = "x-codex-turn-state"
TURN_METADATA_HEADER: Final = "x-codex-turn-metadata"

ERR_BINARY_FRAME: Final = "unexpected binary websocket event"
ERR_CLOSED_BY_SERVER: Final = "websocket closed by server before response.completed"
ERR_STREAM_CLOSED: Final = "stream closed before response.completed"
ERR_IDLE_TIMEOUT: Final = "idle timeout waiting for websocket"
FALLBACK_WARNING: Final = "Falling back from WebSockets to HTTPS transport."

Item = dict[str, Any]
"""One Responses API item (message, function_call, function_call_output, ...)."""


# -- URLs ------------------------------------------------------------------------------


def responses_url(base_url: str) -> str:
    """``<base>/responses`` for an API base URL such as ``https://api.openai.com/v1``."""
    return base_url.rstrip("/") + "/responses"


def websocket_url(url: str) -> str:
    """Map ``http``/``https`` to ``ws``/``wss``; ``ws``/``wss`` are kept.

    Raises:
        ConfigError: Any other scheme.
    """
    scheme, sep, rest = url.partition("://")
    mapped = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(scheme.lower())
    if not sep or mapped is None:
        raise ConfigError(f"model base URL must start with http(s):// or ws(s)://, got {url!r}")
    return f"{mapped}://{rest}"


# -- requests --------------------------------------------------------------------------


class RequestBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A ``response.create`` body (HTTP form: no ``type`` field)."""

    model: str
    instructions: str
    previous_response_id: str | None = None
    input: list[Item]
    tools: list[dict[str, Any]]
    tool_choice: str
    parallel_tool_calls: bool
    reasoning: dict[str, Any] | None = None
    store: bool
    stream: bool
    include: list[str]
    prompt_cache_key: str
    text: dict[str, Any] | None = None


class ResponseCreate(RequestBody, tag_field="type", tag="response.create"):
    """The WebSocket form of :class:`RequestBody` (one text frame per request)."""


def build_request(
    *,
    model: str,
    instructions: str,
    input: Sequence[Item],
    tools: Sequence[dict[str, Any]],
    prompt_cache_key: str,
    previous_response_id: str | None = None,
    reasoning: dict[str, Any] | None = None,
    text: dict[str, Any] | None = None,
) -> RequestBody:
    """Build a request with the fixed fields: tool_choice auto, parallel calls, no store."""
    return RequestBody(
        model=model,
        instructions=instructions,
        previous_response_id=previous_response_id,
        input=list(input),
        tools=list(tools),
        tool_choice="auto",
        parallel_tool_calls=True,
        reasoning=reasoning,
        store=False,
        stream=True,
        include=["reasoning.encrypted_content"] if reasoning is not None else [],
        prompt_cache_key=prompt_cache_key,
        text=text,
    )


def encode_ws_request(body: RequestBody) -> bytes:
    """The WebSocket text frame for ``body``: ``{"type":"response.create", ...}``."""
    fields = msgspec.structs.asdict(body)
    return msgspec.json.encode(ResponseCreate(**fields))


def encode_http_request(body: RequestBody) -> bytes:
    """The HTTP POST body for ``body`` (the same fields without ``type``)."""
    return msgspec.json.encode(RequestBody(**msgspec.structs.asdict(body)))


def decode_ws_request(data: str | bytes) -> ResponseCreate:
    """Parse a client WebSocket frame (server role).

    Raises:
        ProtocolError: Not a valid ``response.create`` frame.
    """
    try:
        return msgspec.json.decode(data, type=ResponseCreate)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"invalid response.create frame: {exc}") from exc
    except RecursionError as exc:  # absurdly deep nesting: malformed input, not a crash
        raise ProtocolError("invalid response.create frame: JSON nested too deeply") from exc


def decode_http_request(data: str | bytes) -> RequestBody:
    """Parse an HTTP request body (server role).

    Raises:
        ProtocolError: Not a valid Responses request body.
    """
    try:
        return msgspec.json.decode(data, type=RequestBody)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"invalid responses request body: {exc}") from exc
    except RecursionError as exc:  # absurdly deep nesting: malformed input, not a crash
        raise ProtocolError("invalid responses request body: JSON nested too deeply") from exc


class RequestPlan(NamedTuple):
    """What to send: an optional ``previous_response_id`` and the input items."""

    previous_response_id: str | None
    input: list[Item]


def plan_request(
    new_input: Sequence[Item],
    *,
    last_input: Sequence[Item] | None,
    last_response_id: str | None,
) -> RequestPlan:
    """Choose a full request or an incremental one (WebSocket v2 style).

    Incremental (``previous_response_id`` + only the new items) iff the previous
    request's input is non-empty, a strict element-wise prefix of ``new_input``,
    and the previous response's id is known. Otherwise the full input is sent.
    """
    if (
        last_response_id
        and last_input
        and len(new_input) > len(last_input)
        and all(a == b for a, b in zip(last_input, new_input, strict=False))
    ):
        return RequestPlan(last_response_id, list(new_input[len(last_input) :]))
    return RequestPlan(None, list(new_input))


# -- items -----------------------------------------------------------------------------


class FunctionCall(NamedTuple):
    """The parts of a ``function_call`` item a tool runner needs."""

    call_id: str
    name: str
    arguments: str


def user_message(text: str) -> Item:
    """A user message item with one ``input_text`` part."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant_message(text: str, *, item_id: str | None = None) -> Item:
    """An assistant message item with one ``output_text`` part."""
    item: Item = {"type": "message", "role": "assistant"}
    if item_id is not None:
        item["id"] = item_id
    item["content"] = [{"type": "output_text", "text": text}]
    return item


def function_call(*, call_id: str, name: str, arguments: str, item_id: str | None = None) -> Item:
    """A ``function_call`` item (``arguments`` is a JSON string)."""
    item: Item = {"type": "function_call"}
    if item_id is not None:
        item["id"] = item_id
    item.update(name=name, arguments=arguments, call_id=call_id)
    return item


def function_call_output(call_id: str, output: str) -> Item:
    """The ``function_call_output`` item answering ``call_id``."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def as_function_call(item: Item) -> FunctionCall | None:
    """The function call carried by ``item``, or None if it is not a valid one."""
    if item.get("type") != "function_call":
        return None
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments", "")
    if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, str):
        return None
    return FunctionCall(call_id, name, arguments)


def message_text(item: Item, *, role: str | None = None) -> str | None:
    """The concatenated text parts of a message item (optionally of one role), else None."""
    if item.get("type") != "message" or (role is not None and item.get("role") != role):
        return None
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = [
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") in ("input_text", "output_text", "text")
        and isinstance(part.get("text"), str)
    ]
    return "".join(texts)


def history_item(item: Item) -> Item:
    """An output item as it is replayed in later inputs.

    Requests use ``store: false``, so server-side ids of messages and function calls
    refer to nothing; they (and ``status``) are dropped. Other kinds are kept as-is.
    """
    if item.get("type") in ("message", "function_call"):
        return {k: v for k, v in item.items() if k not in ("id", "status")}
    return dict(item)

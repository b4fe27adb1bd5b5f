"""Responses API, server side: requests, input items, output items, Response objects (pure).

The emulator's own reading of what clients send to ``POST /v1/responses`` (and in
``response.create`` WebSocket frames), written from the API reference and the SDKs,
not shared with realtalk's client:

* every field but ``model`` is optional; unknown fields are accepted and ignored;
* ``input`` is a string (one user message) or a list of items; an item with a
  ``role`` and no ``type`` is a message, and a message's ``content`` may be a string;
* wrong types give a :class:`RequestError` with the API's error fields.

Output items and the ``Response`` object carry every field the SDK's pydantic types
require (validated in the tests).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

__all__ = [
    "ParsedRequest",
    "decode_json",
    "RequestError",
    "function_call_item",
    "item_text",
    "message_item",
    "parse_request",
    "response_object",
    "usage",
]

JsonDict = dict[str, Any]
_TEXT_PARTS: Final = ("input_text", "output_text", "text")
_ROLES: Final = ("user", "assistant", "system", "developer")
_DECODER: Final = msgspec.json.Decoder()
_JSON_TYPES: Final = {bool: "boolean", int: "integer", float: "number", str: "string"}


class RequestError(Exception):
    """A request the API refuses; becomes an HTTP error or a WebSocket ``error`` event."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int = 400,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.error_type = error_type

    def body(self) -> JsonDict:
        """The ``error`` object."""
        return {
            "message": self.message,
            "type": self.error_type,
            "param": self.param,
            "code": self.code,
        }


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return _JSON_TYPES.get(type(value), "value")


def _check(body: JsonDict, name: str, kinds: tuple[type, ...], expected: str) -> None:
    value = body.get(name)
    if value is None or isinstance(value, kinds):
        return
    raise RequestError(
        f"Invalid type for '{name}': expected {expected}, but got {_json_type(value)} instead.",
        param=name,
        code="invalid_type",
    )


def _text_part(role: str, text: str) -> JsonDict:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def _input_item(item: Any, index: int) -> JsonDict:
    param = f"input[{index}]"
    if not isinstance(item, dict):
        raise RequestError(
            f"Invalid type for '{param}': expected an object, but got {_json_type(item)} instead.",
            param=param,
            code="invalid_type",
        )
    kind = item.get("type")
    if kind is None and "role" not in item:
        raise RequestError(
            f"Missing required parameter: '{param}.type'.",
            param=f"{param}.type",
            code="missing_required_parameter",
        )
    if kind not in (None, "message"):
        if not isinstance(kind, str):
            raise RequestError(
                f"Invalid type for '{param}.type': expected a string.",
                param=f"{param}.type",
                code="invalid_type",
            )
        if kind == "function_call_output" and not isinstance(item.get("call_id"), str):
            raise RequestError(
                f"Missing required parameter: '{param}.call_id'.",
                param=f"{param}.call_id",
                code="missing_required_parameter",
            )
        return dict(item)
    role = item.get("role")
    if role not in _ROLES:
        raise RequestError(
            f"Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system', "
            "and 'developer'.",
            param=f"{param}.role",
            code="invalid_value",
        )
    content = item.get("content")
    if isinstance(content, str):
        content = [_text_part(role, content)]
    elif not isinstance(content, list):
        raise RequestError(
            f"Invalid type for '{param}.content': expected one of a string or array of input "
            f"content items, but got {_json_type(content)} instead.",
            param=f"{param}.content",
            code="invalid_type",
        )
    return {**item, "type": "message", "role": role, "content": content}


def item_text(item: JsonDict, *, role: str | None = None) -> str | None:
    """The text of a (normalised) message item, optionally of one role; else None."""
    if item.get("type") != "message" or (role is not None and item.get("role") != role):
        return None
    content = item.get("content")
    parts = content if isinstance(content, list) else []
    texts = [
        part["text"]
        for part in parts
        if isinstance(part, dict)
        and part.get("type") in _TEXT_PARTS
        and isinstance(part.get("text"), str)
    ]
    return "".join(texts)


@dataclass(frozen=True, kw_only=True)
class ParsedRequest:
    """A validated request: what the model and the Response object need."""

    model: str
    input: list[JsonDict]
    instructions: str | None = None
    tools: list[JsonDict] = field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    store: bool = True
    stream: bool = False
    stream_id: str | None = None
    metadata: JsonDict = field(default_factory=dict)
    echo: JsonDict = field(default_factory=dict)
    """Request fields echoed in the Response object (temperature, text, ...)."""


_ECHOED: Final = (
    "max_output_tokens",
    "max_tool_calls",
    "prompt_cache_key",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "temperature",
    "text",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
)


def parse_request(body: Any, *, websocket: bool) -> ParsedRequest:
    """Validate a request body (HTTP) or ``response.create`` frame (WebSocket).

    Raises:
        RequestError: a missing ``model``, a wrong type, a malformed input item, or an
            option the emulator does not offer (``background``, ``conversation``).
    """
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.", code="invalid_json")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestError(
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    _check(body, "input", (str, list), "one of a string or array of input items")
    _check(body, "instructions", (str,), "a string")
    _check(body, "tools", (list,), "an array")
    _check(body, "tool_choice", (str, dict), "one of a string or object")
    _check(body, "previous_response_id", (str,), "a string")
    _check(body, "metadata", (dict,), "an object")
    _check(body, "stream_id", (str,), "a string")
    for name in ("store", "stream", "parallel_tool_calls", "background"):
        _check(body, name, (bool,), "a boolean")
    if body.get("background"):
        raise RequestError("Background mode is not supported by the emulator.", param="background")
    if body.get("conversation") is not None:
        raise RequestError(
            "Conversations are not supported by the emulator; chain turns with "
            "'previous_response_id'.",
            param="conversation",
        )
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items = [{"type": "message", "role": "user", "content": [_text_part("user", raw_input)]}]
    else:
        items = [_input_item(item, i) for i, item in enumerate(raw_input or [])]
    tool_choice = body.get("tool_choice")
    return ParsedRequest(
        model=body["model"],
        input=items,
        instructions=body.get("instructions"),
        tools=[t for t in body.get("tools") or [] if isinstance(t, dict)],
        tool_choice="auto" if tool_choice is None else tool_choice,
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        previous_response_id=body.get("previous_response_id"),
        store=body.get("store") is not False,
        stream=True if websocket else body.get("stream") is True,
        stream_id=body.get("stream_id") if websocket else None,
        metadata=body.get("metadata") or {},
        echo={name: body[name] for name in _ECHOED if body.get(name) is not None},
    )


# -- output ----------------------------------------------------------------------------


def message_item(item_id: str, text: str, *, status: str = "completed") -> JsonDict:
    """An assistant output message with one ``output_text`` part."""
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def function_call_item(
    item_id: str, *, call_id: str, name: str, arguments: str, status: str = "completed"
) -> JsonDict:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments if status == "completed" else "",
    }


def _count_words(items: list[JsonDict]) -> int:
    words = 0
    for item in items:
        text = item_text(item)
        if text is None:
            text = " ".join(str(item.get(k, "")) for k in ("arguments", "output"))
        words += len(text.split())
    return words


def usage(context: list[JsonDict], output: list[JsonDict]) -> JsonDict:
    """Token counts: one token per word (a stand-in that grows with the conversation)."""
    input_tokens = max(1, _count_words(context))
    output_tokens = max(1, _count_words(output))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _tool_echo(tool: JsonDict) -> JsonDict:
    if tool.get("type") == "function":
        return {"strict": True, "parameters": None, "description": None, **tool}
    return tool


def response_object(
    request: ParsedRequest,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[JsonDict],
    usage: JsonDict | None = None,
) -> JsonDict:
    """The ``Response`` object as ``POST /v1/responses`` and lifecycle events carry it."""
    echo = request.echo
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": echo.get("max_tool_calls"),
        "model": request.model,
        "output": output,
        "parallel_tool_calls": request.parallel_tool_calls,
        "previous_response_id": request.previous_response_id,
        "prompt_cache_key": echo.get("prompt_cache_key"),
        "reasoning": echo.get("reasoning", {"effort": None, "summary": None}),
        "safety_identifier": echo.get("safety_identifier"),
        "service_tier": echo.get("service_tier", "default"),
        "store": request.store,
        "temperature": echo.get("temperature", 1.0),
        "text": echo.get("text", {"format": {"type": "text"}, "verbosity": "medium"}),
        "tool_choice": request.tool_choice,
        "tools": [_tool_echo(t) for t in request.tools],
        "top_logprobs": echo.get("top_logprobs", 0),
        "top_p": echo.get("top_p", 1.0),
        "truncation": echo.get("truncation", "disabled"),
        "usage": usage,
        "user": echo.get("user"),
        "metadata": request.metadata,
    }


def decode_json(data: str | bytes) -> tuple[Any, RequestError | None]:
    """The JSON value of a request body or frame, or why it is not JSON."""
    try:
        return _DECODER.decode(data), None
    except RecursionError:
        reason = "the JSON is nested too deeply"
    except msgspec.DecodeError as exc:
        reason = str(exc)
    message = f"We could not parse the JSON body of your request ({reason}). The OpenAI API expects a JSON payload."
    return None, RequestError(message, code="invalid_json")

"""The Responses side of the scripted model: context, reply items, streaming events (pure).

:func:`conversation` joins a ``previous_response_id``'s context with the new input;
:func:`reply` applies the rules of :mod:`realtalk.emulator._script` to it and returns
the output items; :func:`stream_events` turns a reply into the event sequence of the
API (``response.created`` ... ``response.completed``) without ``sequence_number``,
which the sender adds as it sends.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from realtalk.emulator._responses_wire import (
    ParsedRequest,
    RequestError,
    function_call_item,
    item_text,
    message_item,
    parse_request,
)
from realtalk.emulator._script import (
    ToolCall,
    declared_tools,
    output_sentence,
    responses_answer,
)

__all__ = ["conversation", "encode", "reply", "scripted_reply", "stream_events", "text_pieces"]

JsonDict = dict[str, Any]
_ARGUMENT_PIECES: Final = 3


def conversation(previous: list[JsonDict], new_input: list[JsonDict]) -> list[JsonDict]:
    """The whole context of a request: the earlier turns, then the new input.

    A client that replays a function call the previous response already produced
    (same ``call_id``) is not charged twice: the replay is dropped.

    Raises:
        RequestError: a ``function_call_output`` answers no known call.
    """
    context = list(previous)
    calls = {item.get("call_id") for item in context if item.get("type") == "function_call"}
    for item in new_input:
        if item.get("type") == "function_call":
            if item.get("call_id") in calls:
                continue
            calls.add(item.get("call_id"))
        elif item.get("type") == "function_call_output" and item.get("call_id") not in calls:
            raise RequestError(
                f"No tool call found for function call output with call_id {item.get('call_id')}.",
                param="input",
            )
        context.append(item)
    return context


def _output_text(item: JsonDict) -> str:
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, list):  # content parts
        return "".join(str(part.get("text", "")) for part in output if isinstance(part, dict))
    return ""


def _answer_outputs(context: list[JsonDict], outputs: list[JsonDict]) -> str:
    calls = {item.get("call_id"): item for item in context if item.get("type") == "function_call"}
    sentences = []
    for output in outputs:
        call = calls.get(output.get("call_id"), {})
        sentences.append(
            output_sentence(
                str(call.get("name", "")),
                _output_text(output),
                arguments=str(call.get("arguments", "")),
            )
        )
    return " ".join(sentences)


def reply(request: ParsedRequest, context: list[JsonDict], *, serial: str) -> list[JsonDict]:
    """The output items the scripted model answers ``context`` with."""
    trailing: list[JsonDict] = []
    for item in reversed(context):
        if item.get("type") != "function_call_output":
            break
        trailing.insert(0, item)
    if trailing:
        return [message_item(f"msg_{serial}", _answer_outputs(context, trailing))]
    texts = (item_text(item, role="user") for item in reversed(context))
    latest = next((text for text in texts if text is not None), None)
    declared = declared_tools(
        request.tools,
        request.tool_choice,
        parallel=request.parallel_tool_calls,
        instructions=request.instructions or "",
    )
    answer = responses_answer(latest, declared)
    if isinstance(answer, str):
        return [message_item(f"msg_{serial}", answer)]
    return [_call_item(call, serial, index) for index, call in enumerate(answer)]


def _call_item(call: ToolCall, serial: str, index: int) -> JsonDict:
    suffix = "" if index == 0 else f"_{index + 1}"
    return function_call_item(
        f"fc_{serial}{suffix}",
        call_id=f"call_{serial}{suffix}",
        name=call.name,
        arguments=call.arguments,
    )


def text_pieces(text: str) -> list[str]:
    """Split ``text`` into a few deltas (at spaces) so clients see streaming."""
    words = text.split(" ")
    step = max(1, len(words) // 3)
    chunks = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
    return [c + " " for c in chunks[:-1]] + chunks[-1:]


def _argument_pieces(arguments: str) -> list[str]:
    size = max(1, -(-len(arguments) // _ARGUMENT_PIECES))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _message_events(item: JsonDict, index: int) -> list[JsonDict]:
    item_id = item["id"]
    text = item_text(item) or ""
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return [
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": {**part, "text": ""}},
        *(
            {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
            for piece in text_pieces(text)
        ),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part},
        {"type": "response.output_item.done", "output_index": index, "item": item},
    ]


def _call_events(item: JsonDict, index: int) -> list[JsonDict]:
    where = {"item_id": item["id"], "output_index": index}
    arguments = str(item["arguments"])
    return [
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress", "arguments": ""},
        },
        *(
            {"type": "response.function_call_arguments.delta", **where, "delta": piece}
            for piece in _argument_pieces(arguments)
        ),
        {
            "type": "response.function_call_arguments.done",
            **where,
            "name": item["name"],
            "arguments": arguments,
        },
        {"type": "response.output_item.done", "output_index": index, "item": item},
    ]


def stream_events(in_progress: JsonDict, completed: JsonDict) -> list[JsonDict]:
    """The streamed events of one response (``completed`` holds the full output)."""
    events: list[JsonDict] = [
        {"type": "response.created", "response": in_progress},
        {"type": "response.in_progress", "response": in_progress},
    ]
    for index, item in enumerate(completed["output"]):
        if item.get("type") == "message":
            events += _message_events(item, index)
        else:
            events += _call_events(item, index)
    events.append({"type": "response.completed", "response": completed})
    return events


def scripted_reply(
    items: list[JsonDict],
    *,
    serial: str = "1",
    tools: list[JsonDict] | None = None,
    tool_choice: Any = "auto",
    instructions: str | None = None,
) -> list[JsonDict]:
    """The output items the scripted model answers ``items`` with (no I/O)."""
    request = parse_request(
        {
            "model": "emulator",
            "input": items,
            "tools": tools or [],
            "tool_choice": tool_choice,
            "instructions": instructions,
        },
        websocket=False,
    )
    return reply(request, conversation([], request.input), serial=serial)


def encode(event: JsonDict) -> bytes:
    return msgspec.json.encode(event)

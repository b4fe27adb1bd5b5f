"""Tools as declared: which tool the scripted model calls, and with what arguments."""

from __future__ import annotations

import enum
import json
from typing import Any

import jsonschema
import pydantic
import pytest

from realtalk.emulator._schema_args import arguments_for, first_string_property
from realtalk.emulator._script import (
    InputKind,
    LastInput,
    PlanKind,
    ToolCall,
    choose_calls,
    declared_tools,
    output_sentence,
    plan_response,
    responses_answer,
)

JsonDict = dict[str, Any]


def function(name: str, parameters: JsonDict | None = None) -> JsonDict:
    return {
        "type": "function",
        "name": name,
        "parameters": parameters or {"type": "object", "properties": {}},
    }


WEATHER = function(
    "get_weather",
    {
        "type": "object",
        "properties": {
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "city": {"type": "string"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["unit", "city", "days"],
        "additionalProperties": False,
    },
)
TIME = function(
    "get_time",
    {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
)
SHELL = function(
    "shell",
    {
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}},
            "timeout_ms": {"type": "number"},
        },
        "required": ["command"],
    },
)


def args(call: ToolCall) -> JsonDict:
    parsed = json.loads(call.arguments)
    assert isinstance(parsed, dict)
    return parsed


def test_a_named_tool_is_called_with_schema_valid_arguments() -> None:
    declared = declared_tools([WEATHER, TIME])
    (call,) = choose_calls("please use get_weather for 'Paris'", declared, max_calls=5)
    assert call.name == "get_weather"
    # The quoted value fills the first string property; the enum gets an allowed value.
    assert args(call) == {"unit": "celsius", "city": "Paris", "days": 1}
    jsonschema.validate(args(call), WEATHER["parameters"])


def test_several_named_tools_follow_parallel_tool_calls() -> None:
    text = 'use GET_TIME for "UTC", then get_weather'
    calls = choose_calls(text, declared_tools([WEATHER, TIME]), max_calls=5)
    assert [c.name for c in calls] == ["get_time", "get_weather"]  # in the order named
    assert args(calls[0]) == {"zone": "UTC"}
    serial = choose_calls(text, declared_tools([WEATHER, TIME], parallel=False), max_calls=5)
    assert [c.name for c in serial] == ["get_time"]


@pytest.mark.parametrize(
    ("text", "tool_choice", "expected"),
    [
        ("hello", "auto", []),
        ("use get_weather", "none", []),
        ("hello", "required", ["get_weather"]),  # the first declared tool
        ("hello", {"type": "function", "name": "get_time"}, ["get_time"]),
        ("use get_weather", {"type": "function", "name": "get_time"}, ["get_time"]),
        ("use get_weather", {"type": "function", "name": "missing"}, []),
        (
            "use get_weather",
            {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "get_time"}],
            },
            [],
        ),
        (
            "hello",
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "get_time"}],
            },
            ["get_time"],
        ),
    ],
)
def test_tool_choice(text: str, tool_choice: Any, expected: list[str]) -> None:
    declared = declared_tools([WEATHER, TIME], tool_choice)
    assert [c.name for c in choose_calls(text, declared, max_calls=5)] == expected


def test_words_that_merely_contain_a_tool_name_do_not_call_it() -> None:
    declared = declared_tools([function("time")])
    assert choose_calls("what a timely answer", declared, max_calls=1) == []
    assert choose_calls("sometime-later", declared, max_calls=1) == []
    assert [c.name for c in choose_calls("call time now", declared, max_calls=1)] == ["time"]


def test_backticked_command_calls_a_declared_shell_only() -> None:
    (call,) = choose_calls("please run `ls -la 'my dir'`", declared_tools([SHELL]), max_calls=1)
    assert args(call) == {"command": ["ls", "-la", "my dir"]}
    assert choose_calls("please run `ls`", declared_tools([WEATHER]), max_calls=1) == []
    assert choose_calls("run `unbalanced 'quote`", declared_tools([SHELL]), max_calls=1) == []


def test_responses_answers() -> None:
    assert responses_answer(None, declared_tools([])) == "You said nothing."
    assert responses_answer("hi", declared_tools([WEATHER])) == "You said: hi"
    with_instructions = declared_tools([], instructions="Be terse.")
    assert responses_answer("what are your instructions?", with_instructions) == (
        "My instructions are: Be terse."
    )
    assert responses_answer("what are your instructions?", declared_tools([])) == (
        "I have no instructions."
    )
    assert output_sentence("get_weather", "sunny") == "The get_weather tool returned: sunny"
    shell = output_sentence(
        "shell", "Exit code: 0\nOutput:\nhi\n", arguments='{"command":["echo","hi"]}'
    )
    assert shell == "I ran `echo hi`. It printed: hi"


# What a realtime client hands its agent (realtalk.protocol.wrap_delegation's shape; the
# emulator may not import it, so the block is written out here).
DELEGATION = (
    "<realtime_delegation>\n  <input>agent, is a &lt; b &amp;&amp; c &gt; d?</input>\n"
    "  <transcript_delta>user: agent, is a &lt; b?\nassistant: On it.</transcript_delta>\n"
    "</realtime_delegation>"
)


def test_a_delegation_is_answered_from_its_input_alone() -> None:
    said = responses_answer(DELEGATION, declared_tools([]))
    assert said == "You said: agent, is a < b && c > d?"
    run = DELEGATION.replace("is a &lt; b &amp;&amp; c &gt; d?", "run `sleep 3`")
    calls = responses_answer(run, declared_tools([SHELL]))
    assert isinstance(calls, list)
    assert args(calls[0]) == {"command": ["sleep", "3"]}
    # Only the exact block is unwrapped: other text is quoted as it is.
    assert responses_answer("x <input>y</input>", declared_tools([])) == (
        "You said: x <input>y</input>"
    )


def test_realtime_calls_declared_tools_and_quotes_their_output() -> None:
    declared = declared_tools([WEATHER])
    plan = plan_response(
        LastInput(InputKind.USER_TEXT, "[USER] use get_weather in 'Oslo'"),
        None,
        v1=False,
        declared=declared,
    )
    assert (plan.kind, plan.tool_name) == (PlanKind.CALL_TOOL, "get_weather")
    assert json.loads(plan.arguments)["city"] == "Oslo"
    # v1 has no tools: it talks.
    plan = plan_response(
        LastInput(InputKind.USER_TEXT, "use get_weather"), None, v1=True, declared=declared
    )
    assert plan.kind is PlanKind.SPEAK
    output = LastInput(InputKind.TOOL_OUTPUT, '{"temp": 3}', "item_9", "get_weather")
    plan = plan_response(output, "stale backend text", v1=False, declared=declared)
    assert plan.text == 'The get_weather tool returned: {"temp": 3}'


def test_background_agent_arguments_fit_its_declared_schema() -> None:
    tool = function(
        "background_agent",
        {
            "type": "object",
            "properties": {
                "priority": {"type": "integer", "minimum": 2},
                "task": {"type": "string"},
            },
            "required": ["priority", "task"],
        },
    )
    plan = plan_response(
        LastInput(InputKind.USER_TEXT, "agent, fix the build"),
        None,
        v1=False,
        declared=declared_tools([tool]),
    )
    assert json.loads(plan.arguments) == {"priority": 2, "task": "agent, fix the build"}


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(pydantic.BaseModel):
    street: str
    number: int = pydantic.Field(gt=0, le=500)


class Order(pydantic.BaseModel):
    id: pydantic.UUID4
    note: str | None
    colour: Colour
    when: pydantic.AwareDatetime
    address: Address
    tags: list[str] = pydantic.Field(min_length=2)
    price: float = pydantic.Field(ge=0.5, multiple_of=0.25)
    express: bool
    email: str = pydantic.Field(min_length=20)


@pytest.mark.parametrize(
    "schema",
    [
        Order.model_json_schema(),
        {
            "type": "object",
            "properties": {"x": {"type": ["null", "number"], "exclusiveMinimum": 3}},
            "required": ["x"],
        },
        {
            "type": "object",
            "properties": {
                "x": {"const": 7},
                "y": {"type": "array", "minItems": 3, "items": {"type": "boolean"}},
            },
            "required": ["x", "y"],
        },
        {
            "type": "object",
            "properties": {
                "x": {"oneOf": [{"type": "null"}, {"type": "string", "format": "date"}]}
            },
            "required": ["x"],
        },
        {
            "type": "object",
            "properties": {"x": {"type": "string", "maxLength": 3}},
            "required": ["x"],
        },
        {"type": "object"},
        {},
    ],
)
def test_generated_arguments_validate(schema: JsonDict) -> None:
    value = arguments_for(schema, text="quoted")
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def test_generated_arguments_satisfy_a_pydantic_model() -> None:
    order = Order.model_validate(arguments_for(Order.model_json_schema()))
    assert order.address.number == 1 and len(order.tags) == 2
    assert first_string_property(Order.model_json_schema()) == "note"
    filled = arguments_for(Order.model_json_schema(), text="leave at door")
    assert filled["note"] == "leave at door"


def test_recursive_schemas_terminate() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/$defs/Node"}},
                "required": ["child"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = arguments_for(schema)
    depth = 0
    while value:
        value = value["child"]
        depth += 1
    assert 1 <= depth <= 20

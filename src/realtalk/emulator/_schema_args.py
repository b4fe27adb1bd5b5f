"""Arguments that satisfy a tool's JSON Schema, for the scripted model (pure).

:func:`arguments_for` builds a JSON object for a function tool's ``parameters``:

* every ``required`` property gets a value (with ``strict`` tools every property is
  required, and the SDKs declare them so); optional properties are left out;
* the *text* value (a quoted value from the user's words, or the words themselves
  for a hand-off) goes into the first free-text string property (no ``enum``,
  ``const``, ``format`` or ``pattern``), required or not;
* values have the right type: ``enum``/``const`` pick the first allowed value;
  strings honour ``format`` (``date``, ``date-time``, ``email``, ``uri``, ``uuid``)
  and ``minLength``/``maxLength``; numbers honour ``minimum``/``maximum`` and their
  exclusive forms and ``multipleOf``; arrays get ``minItems`` (at least one) items;
  objects recurse; ``anyOf``/``oneOf`` take the first branch that is not ``null``;
  ``allOf`` merges its parts; local ``$ref`` (``#/$defs/...``, ``#/definitions/...``)
  is resolved, as pydantic-generated schemas use it.

A string with a ``pattern`` gets the plain value: the emulator does not invent
strings for arbitrary regular expressions.
"""

from __future__ import annotations

import math
from typing import Any, Final

__all__ = ["arguments_for", "first_string_property"]

JsonDict = dict[str, Any]
_MAX_DEPTH: Final = 12
_FORMATS: Final = {
    "date": "2025-01-01",
    "date-time": "2025-01-01T12:00:00Z",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
}


def _resolve(schema: Any, root: JsonDict) -> Any:
    """Follow local ``$ref`` pointers (a bounded number of hops)."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, dict) or not isinstance(schema.get("$ref"), str):
            return schema
        target: Any = root
        pointer = schema["$ref"]
        if not pointer.startswith("#"):
            return {}
        for part in pointer.removeprefix("#").strip("/").split("/"):
            if not part:
                continue
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key) if isinstance(target, dict) else None
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **merged} if isinstance(target, dict) else merged
    return schema


def _merge_all_of(schema: JsonDict, root: JsonDict) -> JsonDict:
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: JsonDict = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        part = _resolve(part, root)
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _normalise(schema: Any, root: JsonDict) -> JsonDict:
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return {}
    schema = _merge_all_of(schema, root)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            resolved = [_resolve(b, root) for b in branches]
            usable = [b for b in resolved if isinstance(b, dict) and b.get("type") != "null"]
            choice = usable[0] if usable else resolved[0]
            rest = {k: v for k, v in schema.items() if k != key}
            return _normalise({**rest, **choice} if isinstance(choice, dict) else rest, root)
    return dict(schema)


def _type_of(schema: JsonDict) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if isinstance(k, str) and k != "null"]
        return kinds[0] if kinds else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def first_string_property(schema: Any) -> str | None:
    """The name of the first property of type string in an object schema, if any."""
    root = schema if isinstance(schema, dict) else {}
    schema = _normalise(schema, root)
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return None
    for name, sub in properties.items():
        sub = _normalise(sub, root)
        free_text = not any(key in sub for key in ("enum", "const", "format", "pattern"))
        if free_text and _type_of(sub) == "string":
            return str(name)
    return None


def _string(schema: JsonDict, name: str) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt.startswith("uuid"):  # pydantic says uuid1..uuid8
        fmt = "uuid"
    value = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    return _fit_length(value or (f"example {name}" if name else "example"), schema)


def _fit_length(value: str, schema: JsonDict) -> str:
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        value = value.ljust(low, "x")
    if isinstance(high, int) and high >= 0 and len(value) > high:
        value = value[:high]
    return value


def _number(schema: JsonDict, *, integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    value: float = 1
    if isinstance(low, int | float) and not isinstance(low, bool):
        value = low
    if isinstance(ex_low, int | float) and not isinstance(ex_low, bool):
        value = ex_low + 1 if integer else ex_low + 0.5
    elif ex_low is True and isinstance(low, int | float):  # draft-4 boolean form
        value = low + 1 if integer else low + 0.5
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        value = math.ceil(value / step) * step
    if isinstance(high, int | float) and not isinstance(high, bool) and value > high:
        value = high
    if isinstance(ex_high, int | float) and not isinstance(ex_high, bool) and value >= ex_high:
        value = ex_high - 1 if integer else ex_high - 0.5
    if integer:
        return int(math.ceil(value)) if not float(value).is_integer() else int(value)
    return float(value) if not float(value).is_integer() else int(value)


def _value(schema: Any, root: JsonDict, name: str, depth: int) -> Any:
    schema = _normalise(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema:
        return schema["default"]
    kind = _type_of(schema)
    if kind == "string":
        return _string(schema, name)
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if depth >= _MAX_DEPTH:
        return [] if kind == "array" else {}
    if kind == "array":
        low = schema.get("minItems")
        count = low if isinstance(low, int) and low > 1 else 1
        high = schema.get("maxItems")
        if isinstance(high, int) and high < count:
            count = max(high, 0)
        items = schema.get("items", {})
        if isinstance(items, list):  # tuple form
            return [_value(s, root, name, depth + 1) for s in items]
        return [_value(items, root, name, depth + 1) for _ in range(count)]
    return _object(schema, root, None, depth + 1)


def _object(schema: JsonDict, root: JsonDict, text: str | None, depth: int) -> JsonDict:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    wanted = [n for n in properties if isinstance(required, list) and n in required]
    text_slot = first_string_property(schema) if text is not None else None
    if text_slot is not None and text_slot not in wanted:
        wanted.insert(0, text_slot)
    result: JsonDict = {}
    for name in properties:  # declared order
        if name not in wanted:
            continue
        if name == text_slot and text is not None:
            result[name] = _fit_length(text, _normalise(properties[name], root))
        else:
            result[name] = _value(properties[name], root, str(name), depth)
    return result


def arguments_for(parameters: Any, *, text: str | None = None) -> JsonDict:
    """A JSON object satisfying ``parameters`` (see the module rules).

    ``text``, when given, fills the first string property.
    """
    root = parameters if isinstance(parameters, dict) else {}
    schema = _normalise(parameters, root)
    return _object(schema, root, text, 0)

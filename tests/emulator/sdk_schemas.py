"""Validate realtime wire events against the ``openai`` package's GA pydantic types.

The SDK's own unions (``RealtimeServerEvent``, ``RealtimeClientEvent``) carry only
the SDK's private discriminator metadata, so pydantic would treat them as slow
"smart" unions with unreadable errors. Here the member classes are wrapped in a real
discriminated union (``Field(discriminator="type")``) and validated in strict JSON
mode: a missing required field, a wrong type, or an event type the SDK does not know
all raise :class:`pydantic.ValidationError`.

Reusable from other test packages: ``from emulator.sdk_schemas import
validate_client_event, validate_server_event``. Only v2 (GA) shapes apply; v1
"quicksilver" events are not part of the SDK.
"""

from __future__ import annotations

import json
import typing
from functools import cache
from typing import Annotated, Any, Union

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, Field, TypeAdapter

__all__ = [
    "client_event_types",
    "server_event_types",
    "validate_client_event",
    "validate_server_event",
]


def _members(sdk_union: Any) -> tuple[type[BaseModel], ...]:
    union = typing.get_args(sdk_union)[0]  # Annotated[Union[...], PropertyInfo] -> Union
    members = typing.get_args(union)
    assert members and all(issubclass(m, BaseModel) for m in members)
    return members


def _type_tag(model: type[BaseModel]) -> str:
    (tag,) = typing.get_args(model.model_fields["type"].annotation)
    return str(tag)


@cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    members = _members(RealtimeServerEvent if kind == "server" else RealtimeClientEvent)
    union = Annotated[Union[members], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(union)


def server_event_types() -> frozenset[str]:
    """Every ``type`` the SDK knows for server events."""
    return frozenset(_type_tag(m) for m in _members(RealtimeServerEvent))


def client_event_types() -> frozenset[str]:
    """Every ``type`` the SDK knows for client events."""
    return frozenset(_type_tag(m) for m in _members(RealtimeClientEvent))


def validate_server_event(event: dict[str, Any]) -> BaseModel:
    """Parse one server event dict strictly; raises ``pydantic.ValidationError``."""
    model = _adapter("server").validate_json(json.dumps(event), strict=True)
    assert isinstance(model, BaseModel)
    return model


def validate_client_event(event: dict[str, Any]) -> BaseModel:
    """Parse one client event dict strictly; raises ``pydantic.ValidationError``."""
    model = _adapter("client").validate_json(json.dumps(event), strict=True)
    assert isinstance(model, BaseModel)
    return model

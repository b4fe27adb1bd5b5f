"""Strict validation of emitted events against the ``openai`` SDK's pydantic types.

The SDK's unions carry only its private discriminator metadata; here their members
are wrapped in a real discriminated union (``Field(discriminator="type")``) and
validated in strict JSON mode, so a missing required field, a wrong type or an event
type the SDK does not know raises :class:`pydantic.ValidationError`.
"""

from __future__ import annotations

import json
import typing
from functools import cache
from typing import Annotated, Any, Union

from openai.types.beta.realtime import RealtimeServerEvent as BetaRealtimeServerEvent
from openai.types.realtime import ClientSecretCreateResponse
from openai.types.responses import Response, ResponsesServerEvent, ResponseStreamEvent
from pydantic import BaseModel, Field, TypeAdapter

from ..emulator.sdk_schemas import validate_server_event as validate_realtime_event

__all__ = [
    "validate_beta_realtime_event",
    "validate_client_secret",
    "validate_realtime_event",
    "validate_response",
    "validate_responses_sse_event",
    "validate_responses_ws_event",
]


def _members(sdk_union: Any) -> tuple[type[BaseModel], ...]:
    union = typing.get_args(sdk_union)[0]  # Annotated[Union[...], PropertyInfo] -> Union
    members = typing.get_args(union)
    assert members and all(issubclass(m, BaseModel) for m in members)
    return members


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    unions = {
        "sse": ResponseStreamEvent,
        "ws": ResponsesServerEvent,
        "beta": BetaRealtimeServerEvent,
    }
    members = _members(unions[name])
    union: Any = Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


def _strict(adapter: TypeAdapter[Any], value: dict[str, Any]) -> BaseModel:
    model = adapter.validate_json(json.dumps(value), strict=True)
    assert isinstance(model, BaseModel)
    return model


def validate_responses_sse_event(event: dict[str, Any]) -> BaseModel:
    """One ``POST /v1/responses`` stream event (``ResponseStreamEvent``)."""
    return _strict(_adapter("sse"), event)


def validate_responses_ws_event(event: dict[str, Any]) -> BaseModel:
    """One Responses WebSocket server event (``ResponsesServerEvent``)."""
    return _strict(_adapter("ws"), event)


def validate_beta_realtime_event(event: dict[str, Any]) -> BaseModel:
    """One beta realtime server event (``openai.types.beta.realtime``)."""
    return _strict(_adapter("beta"), event)


def validate_response(body: dict[str, Any]) -> Response:
    """A non-streamed ``Response`` object."""
    return Response.model_validate_json(json.dumps(body), strict=True)


def validate_client_secret(body: dict[str, Any]) -> ClientSecretCreateResponse:
    return ClientSecretCreateResponse.model_validate_json(json.dumps(body), strict=True)

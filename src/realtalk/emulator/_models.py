"""``GET /v1/models`` and ``GET /v1/models/{id}``: the models the emulator answers for.

The emulator's scripted model answers whatever ``model`` a request names; this list
is what it advertises, so clients that check a model exists before using it work.
An id not in the list gets the API's 404 ``model_not_found``.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

__all__ = ["MODELS", "install_models"]

JsonDict = dict[str, Any]
_CREATED: Final = 1_735_689_600  # 2025-01-01T00:00:00Z: fixed, so answers are stable
MODELS: Final = (
    "gpt-realtime",
    "gpt-realtime-1.5",
    "gpt-realtime-mini",
    "gpt-4o-realtime-preview",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-codex",
    "gpt-4.1",
    "gpt-4o",
    "gpt-4o-mini",
)


def _model(model_id: str) -> JsonDict:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "system"}


async def _list(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [_model(m) for m in MODELS]})


async def _retrieve(request: web.Request) -> web.Response:
    model_id = request.match_info["model"]
    if model_id in MODELS:
        return web.json_response(_model(model_id))
    error = {
        "message": f"The model '{model_id}' does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    return web.json_response({"error": error}, status=404)


def install_models(app: web.Application) -> None:
    app.router.add_get("/v1/models", _list)
    app.router.add_get("/v1/models/{model}", _retrieve)

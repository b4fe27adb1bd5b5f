"""``realtalk app-server generate-json-schema OUT_DIR``: JSON Schema from the typed API.

Writes, for the methods and notifications of :mod:`._api`:

* ``<Type>.json``: one standalone schema per params, result and notification type;
* ``ClientRequest.json``: every request envelope ``{id, method, params}`` (oneOf);
* ``ServerNotification.json``: every notification envelope ``{method, params}``;
* ``index.json``: method -> schema file names (and whether it is experimental).

The experimental surface (``thread/realtime/*``) is left out unless
``experimental=True`` (reference 3.5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import msgspec

from realtalk.app_server._methods import METHODS, NOTIFICATIONS, SERVER_REQUESTS

__all__ = ["generate_json_schema"]

_DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
_REF: Final = "#/$defs/{name}"


def _has_required(kind: type[msgspec.Struct]) -> bool:
    return any(f.required for f in msgspec.structs.fields(kind))


def _envelope(method: str, params: type[msgspec.Struct], *, with_id: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "method": {"const": method},
        "params": {"$ref": _REF.format(name=params.__name__)},
    }
    required = ["method"]
    if with_id:
        properties = {"id": {"type": ["string", "integer"]}, **properties}
        required.insert(0, "id")
    if _has_required(params):
        required.append("params")
    return {
        "title": method,
        "type": "object",
        "properties": properties,
        "required": required,
    }


def _union(
    title: str, envelopes: list[dict[str, Any]], kinds: list[type[msgspec.Struct]]
) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(kinds, ref_template=_REF)
    return {"$schema": _DRAFT, "title": title, "oneOf": envelopes, "$defs": components}


def _write(path: Path, schema: dict[str, Any]) -> Path:
    path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def generate_json_schema(out_dir: Path, *, experimental: bool = False) -> list[Path]:
    """Write the schemas into ``out_dir`` (created if needed); returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index: dict[str, Any] = {"requests": {}, "notifications": {}}
    types: set[type[msgspec.Struct]] = set()
    request_envelopes: list[dict[str, Any]] = []
    request_types: list[type[msgspec.Struct]] = []
    for method, spec in METHODS.items():
        gated = spec.experimental
        if gated and not experimental:
            continue
        types.update((spec.params, spec.result))
        request_envelopes.append(_envelope(method, spec.params, with_id=True))
        request_types.append(spec.params)
        index["requests"][method] = {
            "params": f"{spec.params.__name__}.json",
            "result": f"{spec.result.__name__}.json",
            "experimental": gated,
        }
    notification_envelopes: list[dict[str, Any]] = []
    notification_types: list[type[msgspec.Struct]] = []
    for name, notification in NOTIFICATIONS.items():
        kind, gated = notification.params, notification.experimental
        if gated and not experimental:
            continue
        types.add(kind)
        notification_envelopes.append(_envelope(name, kind, with_id=False))
        notification_types.append(kind)
        index["notifications"][name] = {"params": f"{kind.__name__}.json", "experimental": gated}
    index["serverRequests"] = {}
    for server_method, kind in SERVER_REQUESTS.items():
        types.add(kind)
        index["serverRequests"][server_method.value] = {"params": f"{kind.__name__}.json"}
    for kind in sorted(types, key=lambda t: t.__name__):
        schema = {"$schema": _DRAFT, **msgspec.json.schema(kind)}
        written.append(_write(out_dir / f"{kind.__name__}.json", schema))
    written.append(
        _write(
            out_dir / "ClientRequest.json",
            _union("ClientRequest", request_envelopes, request_types),
        )
    )
    written.append(
        _write(
            out_dir / "ServerNotification.json",
            _union("ServerNotification", notification_envelopes, notification_types),
        )
    )
    written.append(_write(out_dir / "index.json", index))
    return written

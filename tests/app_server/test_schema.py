"""``generate-json-schema``: one schema per type, envelopes and an index."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from realtalk.app_server import METHODS, NOTIFICATIONS, generate_json_schema


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _definition(schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].rsplit("/", 1)[1]
    result: dict[str, Any] = schema["$defs"][name]
    return result


def test_stable_schema_excludes_the_experimental_surface(tmp_path: Path) -> None:
    written = generate_json_schema(tmp_path)
    assert all(p.exists() for p in written)
    index = _load(tmp_path / "index.json")
    assert set(index["requests"]) == {m for m, spec in METHODS.items() if not spec.experimental}
    assert set(index["notifications"]) == {
        m for m, spec in NOTIFICATIONS.items() if not spec.experimental
    }
    for entry in index["requests"].values():
        assert (tmp_path / entry["params"]).exists() and (tmp_path / entry["result"]).exists()
    assert not (tmp_path / "ThreadRealtimeStartParams.json").exists()
    requests = _load(tmp_path / "ClientRequest.json")
    assert sorted(e["properties"]["method"]["const"] for e in requests["oneOf"]) == sorted(
        index["requests"]
    )
    turn_start = next(e for e in requests["oneOf"] if e["title"] == "turn/start")
    assert turn_start["required"] == ["id", "method", "params"]
    thread_start = next(e for e in requests["oneOf"] if e["title"] == "thread/start")
    assert thread_start["required"] == ["id", "method"]  # every param is optional
    params = _definition(_load(tmp_path / "ThreadStartParams.json"))
    assert "baseInstructions" in params["properties"]


def test_experimental_schema_describes_realtime(tmp_path: Path) -> None:
    generate_json_schema(tmp_path, experimental=True)
    index = _load(tmp_path / "index.json")
    assert index["requests"]["thread/realtime/start"]["experimental"] is True
    start = _definition(_load(tmp_path / "ThreadRealtimeStartParams.json"))
    assert start["required"] == ["threadId", "outputModality"]
    assert {"prompt", "transport", "voice", "version", "mode"} <= set(start["properties"])
    audio = _load(tmp_path / "ThreadRealtimeOutputAudioDeltaNotification.json")
    chunk = audio["$defs"]["RealtimeAudioChunk"]
    assert set(chunk["properties"]) == {
        "data",
        "sampleRate",
        "numChannels",
        "samplesPerChannel",
        "itemId",
    }
    notifications = _load(tmp_path / "ServerNotification.json")
    assert len(notifications["oneOf"]) == len(NOTIFICATIONS)
    assert all("id" not in e["properties"] for e in notifications["oneOf"])


async def test_cli_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtalk.app_server",
        "generate-json-schema",
        str(out),
        "--experimental",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    assert (out / "ClientRequest.json").exists()
    assert "thread/realtime/appendAudio" in _load(out / "index.json")["requests"]

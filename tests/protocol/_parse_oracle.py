"""A plain restatement of reference 2.4 over dicts: what the server-event parser must
return for an event, written without the parser's fast path, as the property tests'
oracle.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from realtalk.protocol import (
    AudioFrame,
    AudioOut,
    ConversationItemAdded,
    ConversationItemDone,
    ErrorEvent,
    HandoffRequested,
    InputAudioSpeechStarted,
    InputTranscriptDelta,
    InputTranscriptDone,
    NoopRequested,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    RealtimeEvent,
    ResponseCancelled,
    ResponseCreated,
    ResponseDone,
    SessionUpdated,
    Version,
)

# --- a plain restatement of reference 2.4 over dicts, used as the oracle ---------------


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _u(value: Any, bits: int) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**bits
    return value if ok else None


def _first_present(event: dict[str, Any], *keys: str) -> Any:
    return next((event[key] for key in keys if key in event), None)


def _arguments(raw: str) -> str:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(parsed, dict):
        for key in ("input_transcript", "input", "text", "prompt", "query"):
            value = parsed.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return raw


def _oracle_item_done(item: Any, version: Version) -> RealtimeEvent | None:
    if not isinstance(item, dict):
        return None
    item_id = _s(item.get("id"))
    name = item.get("name")
    if version is Version.V2 and item.get("type") == "function_call":
        call_id = _s(item.get("call_id"))
        if call_id is None:
            call_id = item_id
        if name in ("background_agent", "remain_silent") and call_id is not None:
            iid = item_id if item_id is not None else call_id
            if name == "remain_silent":
                return NoopRequested(call_id, iid)
            return HandoffRequested(call_id, iid, _arguments(_s(item.get("arguments")) or ""))
    return None if item_id is None else ConversationItemDone(item_id)


def _oracle_common(e: dict[str, Any], kind: str) -> RealtimeEvent | None:
    if kind == "session.updated":
        session = e.get("session")
        if not isinstance(session, dict) or _s(session.get("id")) is None:
            return None
        return SessionUpdated(session["id"], _s(session.get("instructions")))
    if kind == "error":
        error = e.get("error")
        code = _s(error.get("code")) if isinstance(error, dict) else None
        message = _s(e.get("message"))
        if message is None and isinstance(error, dict):
            message = _s(error.get("message"))
        if message is None and "error" in e:
            # msgspec only for float spelling (1e16, as serde_json writes it, not 1e+16).
            message = msgspec.json.encode(error).decode()
        event_id = _s(error.get("event_id")) if isinstance(error, dict) else None
        return None if message is None else ErrorEvent(message, code, event_id)
    return None


def oracle(e: dict[str, Any], version: Version) -> RealtimeEvent | None:
    kind = e["type"]
    v1, v2 = version is Version.V1, version is Version.V2
    delta, transcript = _s(e.get("delta")), _s(e.get("transcript"))
    if kind in ("session.updated", "error"):
        return _oracle_common(e, kind)
    if v1 and kind == "conversation.output_audio.delta":
        data = delta if delta is not None else _s(e.get("data"))
        rate = _u(e.get("sample_rate"), 32)
        channels = _u(_first_present(e, "channels", "num_channels"), 16)
        if data is None or rate is None or channels is None:
            return None
        return AudioOut(AudioFrame(data, rate, channels, _u(e.get("samples_per_channel"), 32)))
    if v2 and kind in ("response.output_audio.delta", "response.audio.delta"):
        if delta is None:
            return None
        rate = _u(e.get("sample_rate"), 32)
        channels = _u(_first_present(e, "channels", "num_channels"), 16)
        return AudioOut(
            AudioFrame(
                delta,
                24000 if rate is None else rate,
                1 if channels is None else channels,
                _u(e.get("samples_per_channel"), 32),
                _s(e.get("item_id")),
            )
        )
    input_deltas = {"conversation.item.input_audio_transcription.delta"}
    output_deltas = {"response.output_text.delta", "response.output_audio_transcript.delta"}
    input_dones = {"conversation.item.input_audio_transcription.completed"}
    if v1:
        input_deltas.add("conversation.input_transcript.delta")
        output_deltas.add("conversation.output_transcript.delta")
        input_dones.add("conversation.input_transcript.turn_marked")
    if kind in input_deltas:
        return None if delta is None else InputTranscriptDelta(delta)
    if kind in output_deltas:
        return None if delta is None else OutputTranscriptDelta(delta)
    if kind in input_dones:
        return None if transcript is None else InputTranscriptDone(transcript)
    if kind == "response.output_audio_transcript.done":
        return None if transcript is None else OutputTranscriptDone(transcript)
    if v2 and kind == "response.output_text.done":
        text = _s(e.get("text"))
        return None if text is None else OutputTranscriptDone(text)
    if kind == "conversation.item.added" or (v2 and kind == "conversation.item.created"):
        item = e.get("item")
        return ConversationItemAdded(item) if isinstance(item, dict) else None
    if kind == "conversation.item.done":
        return _oracle_item_done(e.get("item"), version)
    if v1 and kind == "conversation.handoff.requested":
        handoff_id, item_id = _s(e.get("handoff_id")), _s(e.get("item_id"))
        spoken = _s(e.get("input_transcript"))
        if handoff_id is None or item_id is None or spoken is None:
            return None
        return HandoffRequested(handoff_id, item_id, spoken)
    if v2 and kind == "input_audio_buffer.speech_started":
        return InputAudioSpeechStarted(_s(e.get("item_id")))
    if v2 and kind in ("response.created", "response.cancelled", "response.done"):
        response = e.get("response")
        rid = _s(response.get("id")) if isinstance(response, dict) else None
        rid = rid if rid is not None else _s(e.get("response_id"))
        if kind == "response.created":
            return ResponseCreated(rid)
        if kind == "response.cancelled":
            return ResponseCancelled(rid)
        status = _s(response.get("status")) if isinstance(response, dict) else None
        return ResponseDone(rid, status)
    if v2 and kind == "output_audio_buffer.started":
        return OutputAudioBufferStarted(_s(e.get("response_id")))
    if v2 and kind == "output_audio_buffer.stopped":
        return OutputAudioBufferStopped(_s(e.get("response_id")))
    if v2 and kind == "output_audio_buffer.cleared":
        return OutputAudioBufferCleared(_s(e.get("response_id")))
    return None

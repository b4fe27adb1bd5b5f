"""The beta realtime dialect (``OpenAI-Beta: realtime=v1``), translated at the socket (pure).

The scripted model speaks GA internally; a socket opened with the beta header gets
every server event renamed and reshaped to the beta API, and its client events
reshaped to GA before the model sees them:

* events: ``response.output_audio.*`` -> ``response.audio.*``,
  ``response.output_audio_transcript.*`` -> ``response.audio_transcript.*``,
  ``response.output_text.*`` -> ``response.text.*``, ``conversation.item.added`` ->
  ``conversation.item.created``; GA's ``conversation.item.done`` has no beta form and
  is not sent;
* items: assistant ``output_text``/``output_audio`` parts -> ``text``/``audio``;
* sessions: GA ``audio.{input,output}`` and ``output_modalities`` <-> beta top-level
  ``voice``, ``speed``, ``input_audio_format``/``output_audio_format`` (``pcm16``,
  ``g711_ulaw``, ``g711_alaw``), ``input_audio_transcription``,
  ``input_audio_noise_reduction``, ``turn_detection`` and ``modalities``
  (``["text", "audio"]`` is GA's ``["audio"]``, whose audio carries a transcript);
  ``max_response_output_tokens`` <-> ``max_output_tokens``;
* responses: ``output_modalities`` -> ``modalities``, the output format and voice
  at the top level.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["BETA_HEADER_VALUE", "client_event_to_ga", "is_beta", "server_event_to_beta"]

JsonDict = dict[str, Any]
BETA_HEADER_VALUE: Final = "realtime=v1"

_RENAMED: Final = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
_PART_TYPES: Final = {"output_text": "text", "output_audio": "audio"}
_FORMATS: Final = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_GA_FORMATS: Final = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}


def is_beta(header: str | None) -> bool:
    """Whether an ``OpenAI-Beta`` header asks for the beta realtime API."""
    return header is not None and BETA_HEADER_VALUE in [p.strip() for p in header.split(",")]


def _dict(value: Any) -> JsonDict:
    return value if isinstance(value, dict) else {}


def _beta_format(ga: Any) -> str:
    return _FORMATS.get(str(_dict(ga).get("type")), "pcm16")


def _beta_item(item: Any) -> Any:
    if not isinstance(item, dict) or not isinstance(item.get("content"), list):
        return item
    content = [
        {**part, "type": _PART_TYPES.get(str(part.get("type")), part.get("type"))}
        if isinstance(part, dict)
        else part
        for part in item["content"]
    ]
    return {**item, "content": content}


def _beta_modalities(ga: Any) -> list[str]:
    return ["text"] if ga == ["text"] else ["text", "audio"]


def beta_session(session: JsonDict) -> JsonDict:
    """A GA realtime session object in the beta shape."""
    audio = _dict(session.get("audio"))
    audio_in, audio_out = _dict(audio.get("input")), _dict(audio.get("output"))
    return {
        "id": session.get("id"),
        "object": "realtime.session",
        "model": session.get("model"),
        "expires_at": session.get("expires_at"),
        "modalities": _beta_modalities(session.get("output_modalities")),
        "instructions": session.get("instructions", ""),
        "voice": audio_out.get("voice", "alloy"),
        "speed": audio_out.get("speed", 1.0),
        "input_audio_format": _beta_format(audio_in.get("format")),
        "output_audio_format": _beta_format(audio_out.get("format")),
        "input_audio_transcription": audio_in.get("transcription"),
        "input_audio_noise_reduction": audio_in.get("noise_reduction"),
        "turn_detection": audio_in.get("turn_detection"),
        "tools": session.get("tools", []),
        "tool_choice": session.get("tool_choice", "auto"),
        "temperature": session.get("temperature", 0.8),
        "max_response_output_tokens": session.get("max_output_tokens", "inf"),
        "tracing": session.get("tracing"),
    }


def _beta_response(response: JsonDict) -> JsonDict:
    out = {k: v for k, v in response.items() if k not in ("output_modalities", "audio")}
    audio_out = _dict(_dict(response.get("audio")).get("output"))
    out["modalities"] = _beta_modalities(response.get("output_modalities"))
    out["voice"] = audio_out.get("voice", "alloy")
    out["output_audio_format"] = _beta_format(audio_out.get("format"))
    out["output"] = [_beta_item(item) for item in response.get("output") or []]
    return out


def server_event_to_beta(event: JsonDict) -> JsonDict | None:
    """The beta form of a GA server event, or None when beta has no such event."""
    kind = event.get("type")
    if kind == "conversation.item.done":
        return None
    out = {**event, "type": _RENAMED.get(str(kind), kind)}
    if kind in ("session.created", "session.updated") and isinstance(event.get("session"), dict):
        out["session"] = beta_session(event["session"])
    if "item" in event:
        out["item"] = _beta_item(event["item"])
    if isinstance(event.get("response"), dict):
        out["response"] = _beta_response(event["response"])
    return out


def _ga_session_fields(beta: JsonDict) -> JsonDict:
    """Beta session (or response) fields -> GA fields (unknown fields pass through)."""
    ga: JsonDict = {}
    audio_in: JsonDict = {}
    audio_out: JsonDict = {}
    for key, value in beta.items():
        if key == "modalities" and isinstance(value, list):
            ga["output_modalities"] = ["audio"] if "audio" in value else ["text"]
        elif key in ("voice", "speed"):
            audio_out[key] = value
        elif key == "input_audio_format":
            audio_in["format"] = _GA_FORMATS.get(value, value)
        elif key == "output_audio_format":
            audio_out["format"] = _GA_FORMATS.get(value, value)
        elif key == "input_audio_transcription":
            audio_in["transcription"] = value
        elif key == "input_audio_noise_reduction":
            audio_in["noise_reduction"] = value
        elif key == "turn_detection":
            audio_in["turn_detection"] = value
        elif key == "max_response_output_tokens":
            ga["max_output_tokens"] = value
        else:
            ga[key] = value
    audio = {name: part for name, part in (("input", audio_in), ("output", audio_out)) if part}
    if audio:
        ga["audio"] = audio
    return ga


def client_event_to_ga(event: JsonDict) -> JsonDict:
    """The GA form of a beta client event (what the model understands)."""
    kind = event.get("type")
    if kind == "session.update" and isinstance(event.get("session"), dict):
        session = _ga_session_fields(event["session"])
        session.pop("client_secret", None)
        return {**event, "session": {**session, "type": "realtime"}}
    if kind == "response.create" and isinstance(event.get("response"), dict):
        return {**event, "response": _ga_session_fields(event["response"])}
    return event

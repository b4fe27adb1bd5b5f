"""Per-version wire structs for realtime server events (reference 2.4).

Each version has one ``msgspec`` tagged union of structs keyed on the JSON ``type``
field. One typed decode both dispatches on ``type`` and skips every field we do not
need, which is what makes audio deltas cheap. Each struct maps itself to a normalised
event with ``to_event``.

The reference parses through a generic JSON value and treats a wrong-typed *optional*
field as absent. To keep that leniency, optional fields are typed ``Any`` and checked
in ``to_event``; required fields are typed strictly, so a missing or wrong-typed one
fails the decode, and the caller ignores the frame.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from realtalk.protocol._events import (
    AudioFrame,
    AudioOut,
    CancelRequested,
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
from realtalk.protocol._session import (
    ANSWER_APPROVAL_TOOL_NAME,
    BACKGROUND_AGENT_TOOL_NAME,
    CANCEL_AGENT_TOOL_NAME,
    REMAIN_SILENT_TOOL_NAME,
)
from realtalk.protocol._tool_args import approval_answer, handoff_input

__all__ = ["CARRIES_JSON", "DECODERS", "KNOWN_TYPES", "Wire"]

_U16_MAX: Final = 0xFFFF
_U32_MAX: Final = 0xFFFF_FFFF
_V2_DEFAULT_SAMPLE_RATE: Final = 24000
_V2_DEFAULT_CHANNELS: Final = 1
_UNSET: Final = msgspec.UNSET
_HANDOFF_TOOLS: Final = frozenset(
    {
        BACKGROUND_AGENT_TOOL_NAME,
        REMAIN_SILENT_TOOL_NAME,
        CANCEL_AGENT_TOOL_NAME,
        ANSWER_APPROVAL_TOOL_NAME,
    }
)


# --- lenient field helpers (a wrong-typed optional value counts as absent) -------------


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


def _uint(value: Any, limit: int) -> int | None:
    # `type(...) is int` rejects bools, which JSON true/false decode to.
    return value if type(value) is int and 0 <= value <= limit else None


def _response_id(response: Any, response_id: Any) -> str | None:
    if type(response) is dict:
        found = _str(response.get("id"))
        if found is not None:
            return found
    return _str(response_id)


# --- wire structs ----------------------------------------------------------------------


class Wire(msgspec.Struct, tag_field="type", gc=False):
    def to_event(self) -> RealtimeEvent | None:
        """Map to a normalised event; ``None`` if a required field is missing.

        Every concrete wire struct overrides this (``tests/protocol`` checks it); the
        base maps nothing.
        """
        return None


class _SessionInfo(msgspec.Struct, gc=False):
    id: str
    instructions: Any = None


class _SessionUpdated(Wire, tag="session.updated"):
    session: _SessionInfo

    def to_event(self) -> RealtimeEvent | None:
        return SessionUpdated(self.session.id, _str(self.session.instructions))


class _V1AudioDelta(Wire, tag="conversation.output_audio.delta"):
    delta: Any = None
    data: Any = None
    sample_rate: Any = None
    channels: Any = _UNSET
    num_channels: Any = None
    samples_per_channel: Any = None

    def to_event(self) -> RealtimeEvent | None:
        data = _str(self.delta)
        if data is None:
            data = _str(self.data)
        # Like the reference: `channels` wins whenever the key is present.
        channels = _uint(self.num_channels if self.channels is _UNSET else self.channels, _U16_MAX)
        sample_rate = _uint(self.sample_rate, _U32_MAX)
        if data is None or sample_rate is None or channels is None:
            return None
        frame = AudioFrame(
            data, sample_rate, channels, _uint(self.samples_per_channel, _U32_MAX), None
        )
        return AudioOut(frame)


class _V2AudioDelta(Wire, tag="response.output_audio.delta"):
    delta: str
    sample_rate: Any = None
    channels: Any = _UNSET
    num_channels: Any = None
    samples_per_channel: Any = None
    item_id: Any = None

    def to_event(self) -> RealtimeEvent | None:
        if (
            self.sample_rate is None
            and self.channels is _UNSET
            and self.num_channels is None
            and self.samples_per_channel is None
        ):  # the GA API's usual delta: the session's format (every delta: keep it short)
            item_id = self.item_id
            return AudioOut(
                AudioFrame(
                    self.delta,
                    _V2_DEFAULT_SAMPLE_RATE,
                    _V2_DEFAULT_CHANNELS,
                    None,
                    item_id if type(item_id) is str else None,
                )
            )
        sample_rate = _uint(self.sample_rate, _U32_MAX)
        channels = _uint(self.num_channels if self.channels is _UNSET else self.channels, _U16_MAX)
        frame = AudioFrame(
            self.delta,
            _V2_DEFAULT_SAMPLE_RATE if sample_rate is None else sample_rate,
            _V2_DEFAULT_CHANNELS if channels is None else channels,
            _uint(self.samples_per_channel, _U32_MAX),
            _str(self.item_id),
        )
        return AudioOut(frame)


class _V2AudioDeltaAlias(_V2AudioDelta, tag="response.audio.delta"):
    pass


class _InputDelta(Wire, tag="conversation.item.input_audio_transcription.delta"):
    delta: str

    def to_event(self) -> RealtimeEvent | None:
        return InputTranscriptDelta(self.delta)


class _V1InputDelta(_InputDelta, tag="conversation.input_transcript.delta"):
    pass


class _InputDone(Wire, tag="conversation.item.input_audio_transcription.completed"):
    transcript: str

    def to_event(self) -> RealtimeEvent | None:
        return InputTranscriptDone(self.transcript)


class _V1TurnMarked(_InputDone, tag="conversation.input_transcript.turn_marked"):
    pass


class _OutputDelta(Wire, tag="response.output_audio_transcript.delta"):
    delta: str

    def to_event(self) -> RealtimeEvent | None:
        return OutputTranscriptDelta(self.delta)


class _OutputTextDelta(_OutputDelta, tag="response.output_text.delta"):
    pass


class _V1OutputDelta(_OutputDelta, tag="conversation.output_transcript.delta"):
    pass


class _OutputAudioDone(Wire, tag="response.output_audio_transcript.done"):
    transcript: str

    def to_event(self) -> RealtimeEvent | None:
        return OutputTranscriptDone(self.transcript)


class _V2OutputTextDone(Wire, tag="response.output_text.done"):
    text: str

    def to_event(self) -> RealtimeEvent | None:
        return OutputTranscriptDone(self.text)


class _V2SpeechStarted(Wire, tag="input_audio_buffer.speech_started"):
    item_id: Any = None

    def to_event(self) -> RealtimeEvent | None:
        return InputAudioSpeechStarted(_str(self.item_id))


class _ItemAdded(Wire, tag="conversation.item.added"):
    item: dict[str, Any]

    def to_event(self) -> RealtimeEvent | None:
        return ConversationItemAdded(self.item)


class _V2ItemCreated(_ItemAdded, tag="conversation.item.created"):
    pass


class _V1ItemDone(Wire, tag="conversation.item.done"):
    item: dict[str, Any]

    def to_event(self) -> RealtimeEvent | None:
        item_id = _str(self.item.get("id"))
        return None if item_id is None else ConversationItemDone(item_id)


class _V2ItemDone(Wire, tag="conversation.item.done"):
    item: dict[str, Any]

    def to_event(self) -> RealtimeEvent | None:
        item = self.item
        item_id = _str(item.get("id"))
        name = item.get("name")
        if item.get("type") == "function_call" and name in _HANDOFF_TOOLS:
            call_id = _str(item.get("call_id"))
            if call_id is None:
                call_id = item_id
            if call_id is not None:
                if item_id is None:
                    item_id = call_id
                if name == REMAIN_SILENT_TOOL_NAME:
                    return NoopRequested(call_id, item_id)
                if name == CANCEL_AGENT_TOOL_NAME:
                    return CancelRequested(call_id, item_id)
                arguments = _str(item.get("arguments")) or ""
                if name == ANSWER_APPROVAL_TOOL_NAME:
                    return approval_answer(call_id, item_id, arguments)
                return HandoffRequested(call_id, item_id, handoff_input(arguments))
        return None if item_id is None else ConversationItemDone(item_id)


class _V1HandoffRequested(Wire, tag="conversation.handoff.requested"):
    handoff_id: str
    item_id: str
    input_transcript: str

    def to_event(self) -> RealtimeEvent | None:
        return HandoffRequested(self.handoff_id, self.item_id, self.input_transcript)


class _V2ResponseCreated(Wire, tag="response.created"):
    response: Any = None
    response_id: Any = None

    def to_event(self) -> RealtimeEvent | None:
        return ResponseCreated(_response_id(self.response, self.response_id))


class _V2ResponseCancelled(_V2ResponseCreated, tag="response.cancelled"):
    def to_event(self) -> RealtimeEvent | None:
        return ResponseCancelled(_response_id(self.response, self.response_id))


class _V2ResponseDone(_V2ResponseCreated, tag="response.done"):
    # A function call inside `response.output` is deliberately *not* a handoff: only
    # `conversation.item.done` starts one, so a call is never delegated twice.
    def to_event(self) -> RealtimeEvent | None:
        response = self.response
        status = _str(response.get("status")) if type(response) is dict else None
        return ResponseDone(_response_id(response, self.response_id), status)


class _V2OutputBufferStarted(Wire, tag="output_audio_buffer.started"):
    response_id: Any = None

    def to_event(self) -> RealtimeEvent | None:
        return OutputAudioBufferStarted(_str(self.response_id))


class _V2OutputBufferStopped(_V2OutputBufferStarted, tag="output_audio_buffer.stopped"):
    def to_event(self) -> RealtimeEvent | None:
        return OutputAudioBufferStopped(_str(self.response_id))


class _V2OutputBufferCleared(_V2OutputBufferStarted, tag="output_audio_buffer.cleared"):
    def to_event(self) -> RealtimeEvent | None:
        return OutputAudioBufferCleared(_str(self.response_id))


class _Error(Wire, tag="error"):
    message: Any = None
    error: Any = _UNSET

    def to_event(self) -> RealtimeEvent | None:
        error = self.error
        details = type(error) is dict
        code = _str(error.get("code")) if details else None
        message = _str(self.message)
        if message is None and details:
            message = _str(error.get("message"))
        if message is None:
            if error is _UNSET:
                return None
            message = msgspec.json.encode(error).decode()
        return ErrorEvent(message, code, _str(error.get("event_id")) if details else None)


_COMMON: Final = (_SessionUpdated, _Error, _InputDelta, _InputDone, _OutputDelta)
_V1_WIRE: Final = (
    *_COMMON,
    _V1AudioDelta,
    _V1InputDelta,
    _V1TurnMarked,
    _OutputTextDelta,
    _V1OutputDelta,
    _OutputAudioDone,
    _ItemAdded,
    _V1ItemDone,
    _V1HandoffRequested,
)
_V2_WIRE: Final = (
    *_COMMON,
    _V2AudioDelta,
    _V2AudioDeltaAlias,
    _OutputTextDelta,
    _OutputAudioDone,
    _V2OutputTextDone,
    _V2SpeechStarted,
    _ItemAdded,
    _V2ItemCreated,
    _V2ItemDone,
    _V2ResponseCreated,
    _V2ResponseCancelled,
    _V2ResponseDone,
    _V2OutputBufferStarted,
    _V2OutputBufferStopped,
    _V2OutputBufferCleared,
)


def _decoder(members: tuple[type[Wire], ...]) -> msgspec.json.Decoder[Wire]:
    union: Any = None
    for member in members:
        union = member if union is None else union | member
    return msgspec.json.Decoder(union)


def _tags(members: tuple[type[Wire], ...]) -> frozenset[str]:
    return frozenset(str(member.__struct_config__.tag) for member in members)


DECODERS: Final = {Version.V1: _decoder(_V1_WIRE), Version.V2: _decoder(_V2_WIRE)}
CARRIES_JSON: Final[frozenset[type[Wire]]] = frozenset({_ItemAdded, _V2ItemCreated, _Error})
"""Wire events whose normalised event carries server JSON as is (an item, an error's
details): only these must be checked for nesting depth before they are passed on. Every
other event keeps scalars only, so a deep value in one of its fields is dropped."""
KNOWN_TYPES: Final = {Version.V1: _tags(_V1_WIRE), Version.V2: _tags(_V2_WIRE)}

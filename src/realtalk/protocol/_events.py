"""Typed, normalised realtime events and the small enums shared by every layer.

The wire codecs (``_codec``) turn v1 and v2 server frames into these events; the
conversation manager, the app-server and the CLI only ever see these. They are
``msgspec`` structs in one tagged union (tag field ``kind``), so they encode to
JSON for event dumps and JSON-RPC without a second representation.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

__all__ = [
    "AudioFrame",
    "AnswerApprovalRequested",
    "AudioOut",
    "CancelRequested",
    "ConversationItemAdded",
    "ConversationItemDone",
    "ErrorEvent",
    "HandoffRequested",
    "InputAudioSpeechStarted",
    "InputTranscriptDelta",
    "InputTranscriptDone",
    "Mode",
    "NoopRequested",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "OutputModality",
    "OutputTranscriptDelta",
    "OutputTranscriptDone",
    "RealtimeEvent",
    "ResponseCancelled",
    "ResponseCreated",
    "ResponseDone",
    "SessionUpdated",
    "TranscriptEntry",
    "TurnDone",
    "TurnStarted",
    "Version",
]


class Version(enum.StrEnum):
    """Realtime wire protocol version."""

    V1 = "v1"
    V2 = "v2"


class Mode(enum.StrEnum):
    """Session mode. v1 treats ``transcription`` as ``conversational``."""

    CONVERSATIONAL = "conversational"
    TRANSCRIPTION = "transcription"


class OutputModality(enum.StrEnum):
    """What the model answers with. ``text`` requires v2."""

    AUDIO = "audio"
    TEXT = "text"


class AudioFrame(msgspec.Struct, frozen=True, omit_defaults=True):
    """One chunk of PCM16 audio, base64 encoded."""

    data: str
    sample_rate: int = 24000
    num_channels: int = 1
    samples_per_channel: int | None = None
    item_id: str | None = None


class TranscriptEntry(msgspec.Struct, frozen=True):
    """One line of the active transcript (``role`` is ``user`` or ``assistant``)."""

    role: str
    text: str


class _Event(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class SessionUpdated(_Event, frozen=True, tag="session_updated"):
    realtime_session_id: str
    instructions: str | None = None


class InputAudioSpeechStarted(_Event, frozen=True, tag="input_audio_speech_started"):
    item_id: str | None = None


class InputTranscriptDelta(_Event, frozen=True, tag="input_transcript_delta"):
    delta: str


class InputTranscriptDone(_Event, frozen=True, tag="input_transcript_done"):
    text: str


class OutputTranscriptDelta(_Event, frozen=True, tag="output_transcript_delta"):
    delta: str


class OutputTranscriptDone(_Event, frozen=True, tag="output_transcript_done"):
    text: str


class AudioOut(_Event, frozen=True, tag="audio_out"):
    frame: AudioFrame


class ResponseCreated(_Event, frozen=True, tag="response_created"):
    response_id: str | None = None


class ResponseCancelled(_Event, frozen=True, tag="response_cancelled"):
    response_id: str | None = None


class ResponseDone(_Event, frozen=True, tag="response_done"):
    """The response ended; ``status`` is the server's ``response.status`` when it sent one
    (``completed``, ``cancelled`` — e.g. a barge-in — ``failed``, ``incomplete``)."""

    response_id: str | None = None
    status: str | None = None


class OutputAudioBufferStarted(_Event, frozen=True, tag="output_audio_buffer_started"):
    """WebRTC: the server started playing a response's audio on the media track."""

    response_id: str | None = None


class OutputAudioBufferStopped(_Event, frozen=True, tag="output_audio_buffer_stopped"):
    """WebRTC: the server's output audio buffer drained (the answer was fully played)."""

    response_id: str | None = None


class OutputAudioBufferCleared(_Event, frozen=True, tag="output_audio_buffer_cleared"):
    """WebRTC: the server dropped the rest of the output audio (barge-in or a clear)."""

    response_id: str | None = None


class ConversationItemAdded(_Event, frozen=True, tag="conversation_item_added"):
    item: dict[str, Any]


class ConversationItemDone(_Event, frozen=True, tag="conversation_item_done"):
    item_id: str


class HandoffRequested(_Event, frozen=True, tag="handoff_requested"):
    handoff_id: str
    item_id: str
    input_transcript: str
    active_transcript: tuple[TranscriptEntry, ...] = ()


class NoopRequested(_Event, frozen=True, tag="noop_requested"):
    call_id: str
    item_id: str


class CancelRequested(_Event, frozen=True, tag="cancel_requested"):
    """The model called ``cancel_background_agent`` (realtalk's extension, v2): the user
    asked to stop the background agent's running task."""

    call_id: str
    item_id: str


class AnswerApprovalRequested(_Event, frozen=True, tag="answer_approval_requested"):
    """The model called ``answer_approval`` (realtalk's extension, v2): the user's yes/no
    to the background agent's question. ``approved`` is None when the arguments did not
    say (not a boolean); ``request_id`` is None when the model left it out."""

    call_id: str
    item_id: str
    approved: bool | None = None
    request_id: str | None = None


class ErrorEvent(_Event, frozen=True, tag="error"):
    """A server ``error`` event, a transport failure or a local failure.

    ``code`` is the server's ``error.code`` when there was one (for example
    ``conversation_already_has_active_response``).
    """

    message: str
    code: str | None = None
    event_id: str | None = None
    """The server's ``error.event_id``: the id of the client event that caused the error."""


class TurnStarted(_Event, frozen=True, tag="turn_started"):
    """The conversation core: the assistant owes an answer (a request, speech, a delegation).

    Not a wire event. See ``ConversationCore`` for when a turn starts and ends.
    """


class TurnDone(_Event, frozen=True, tag="turn_done"):
    """The conversation core: nothing is owed any more (answered, spoken, agent done)."""


RealtimeEvent = (
    SessionUpdated
    | InputAudioSpeechStarted
    | InputTranscriptDelta
    | InputTranscriptDone
    | OutputTranscriptDelta
    | OutputTranscriptDone
    | AudioOut
    | ResponseCreated
    | ResponseCancelled
    | ResponseDone
    | OutputAudioBufferStarted
    | OutputAudioBufferStopped
    | OutputAudioBufferCleared
    | ConversationItemAdded
    | ConversationItemDone
    | HandoffRequested
    | NoopRequested
    | CancelRequested
    | AnswerApprovalRequested
    | ErrorEvent
    | TurnStarted
    | TurnDone
)

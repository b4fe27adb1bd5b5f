"""The "active transcript" kept per realtime connection (reference 2.6).

Every parsed event goes through :meth:`TranscriptAccumulator.observe` before anyone
else sees it. Transcript deltas grow the current user/assistant line, ``*Done`` events
replace it with the final text, and speech-start / response-created force the next text
onto a new line. A handoff gets the lines added since the previous handoff, so the
background agent is never sent the same context twice.
"""

from __future__ import annotations

import msgspec

from realtalk.protocol._events import (
    HandoffRequested,
    InputAudioSpeechStarted,
    InputTranscriptDelta,
    InputTranscriptDone,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    RealtimeEvent,
    ResponseCreated,
    TranscriptEntry,
)

__all__ = ["TranscriptAccumulator"]

_USER = "user"
_ASSISTANT = "assistant"
# The event types that touch the transcript. Events are final structs, so an exact
# type check lets the hot path (audio deltas) skip the match below entirely.
_RELEVANT: frozenset[type] = frozenset(
    {
        InputAudioSpeechStarted,
        ResponseCreated,
        InputTranscriptDelta,
        OutputTranscriptDelta,
        InputTranscriptDone,
        OutputTranscriptDone,
        HandoffRequested,
    }
)


class TranscriptAccumulator:
    """Builds the active transcript from normalised realtime events."""

    __slots__ = ("_entries", "_handoff_mark", "_new_input", "_new_output")

    def __init__(self) -> None:
        self._entries: list[TranscriptEntry] = []
        self._handoff_mark = 0  # len(entries) at the previous handoff
        self._new_input = False
        self._new_output = False

    @property
    def entries(self) -> tuple[TranscriptEntry, ...]:
        """Every transcript line so far, oldest first."""
        return tuple(self._entries)

    def observe(self, event: RealtimeEvent) -> RealtimeEvent:
        """Update the transcript from ``event``; return the event to pass on.

        A :class:`HandoffRequested` comes back as a copy whose ``active_transcript``
        holds the lines since the previous handoff; every other event is returned as is.
        """
        if type(event) not in _RELEVANT:
            return event
        match event:
            case InputAudioSpeechStarted():
                self._new_input = True
            case ResponseCreated():
                self._new_output = True
            case InputTranscriptDelta(delta=delta):
                if delta:
                    self._append(_USER, delta, force_new=self._new_input)
                    self._new_input = False
            case OutputTranscriptDelta(delta=delta):
                if delta:
                    self._append(_ASSISTANT, delta, force_new=self._new_output)
                    self._new_output = False
            case InputTranscriptDone(text=text):
                if text:
                    self._replace(_USER, text, force_new=self._new_input)
                    self._new_input = False
            case OutputTranscriptDone(text=text):
                if text:
                    self._replace(_ASSISTANT, text, force_new=self._new_output)
                    self._new_output = False
            case HandoffRequested():
                return self._handoff(event)
            case _:
                pass
        return event

    def _last_has_role(self, role: str) -> bool:
        return bool(self._entries) and self._entries[-1].role == role

    def _append(self, role: str, delta: str, *, force_new: bool) -> None:
        if not force_new and self._last_has_role(role):
            last = self._entries[-1]
            self._entries[-1] = TranscriptEntry(role, last.text + delta)
        else:
            self._entries.append(TranscriptEntry(role, delta))

    def _replace(self, role: str, text: str, *, force_new: bool) -> None:
        if not force_new and self._last_has_role(role):
            self._entries[-1] = TranscriptEntry(role, text)
        else:
            self._entries.append(TranscriptEntry(role, text))

    def _handoff(self, event: HandoffRequested) -> HandoffRequested:
        spoken = event.input_transcript.strip()
        # The handoff input is usually what the user just said; add it only if no
        # user line already says exactly that.
        if spoken and not any(
            entry.role == _USER and entry.text.strip() == spoken for entry in self._entries
        ):
            self._entries.append(TranscriptEntry(_USER, spoken))
        delta = tuple(self._entries[self._handoff_mark :])
        self._handoff_mark = len(self._entries)
        self._new_input = True
        self._new_output = True
        return msgspec.structs.replace(event, active_transcript=delta)

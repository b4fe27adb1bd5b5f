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
    """Builds the active transcript from normalised realtime events.

    Linear in the text it holds: the line being spoken is kept as a list of pieces
    and joined only when someone reads it (a handoff, :attr:`entries`), so a line of
    100,000 deltas costs 100,000 appends, not 100,000 copies of a growing string.
    """

    __slots__ = ("_entries", "_handoff_mark", "_new_input", "_new_output", "_open", "_role")

    def __init__(self) -> None:
        self._entries: list[TranscriptEntry] = []  # finished lines
        self._role: str | None = None  # role of the open (last) line, if one is open
        self._open: list[str] = []  # its pieces
        self._handoff_mark = 0  # number of lines at the previous handoff
        self._new_input = False
        self._new_output = False

    @property
    def entries(self) -> tuple[TranscriptEntry, ...]:
        """Every transcript line so far, oldest first."""
        if self._role is None:
            return tuple(self._entries)
        return (*self._entries, TranscriptEntry(self._role, "".join(self._open)))

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
                    self._add(_USER, delta, force_new=self._new_input, replace=False)
                    self._new_input = False
            case OutputTranscriptDelta(delta=delta):
                if delta:
                    self._add(_ASSISTANT, delta, force_new=self._new_output, replace=False)
                    self._new_output = False
            case InputTranscriptDone(text=text):
                if text:
                    self._add(_USER, text, force_new=self._new_input, replace=True)
                    self._new_input = False
            case OutputTranscriptDone(text=text):
                if text:
                    self._add(_ASSISTANT, text, force_new=self._new_output, replace=True)
                    self._new_output = False
            case HandoffRequested():
                return self._handoff(event)
            case _:
                pass
        return event

    def _close(self) -> None:
        if self._role is not None:
            self._entries.append(TranscriptEntry(self._role, "".join(self._open)))
            self._role = None
            self._open = []

    def _add(self, role: str, text: str, *, force_new: bool, replace: bool) -> None:
        """Grow (or, ``replace``, overwrite) the last line if it has ``role``, else start one."""
        if not force_new:
            if self._role is None and self._entries and self._entries[-1].role == role:
                self._role = role  # reopen a finished line of the same role
                self._open = [self._entries.pop().text]
            if self._role == role:
                if replace:
                    self._open = [text]
                else:
                    self._open.append(text)
                return
        self._close()
        self._role = role
        self._open = [text]

    def _handoff(self, event: HandoffRequested) -> HandoffRequested:
        self._close()
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

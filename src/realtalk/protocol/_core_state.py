"""The state one :class:`ConversationCore` keeps, and the moves its parts share (pure).

Every attribute of a conversation's protocol state is set here, in one place; the
parts of the core (:mod:`._core_events`, :mod:`._core_input`, :mod:`._core_delegation`,
:mod:`._core_sessions`) are logic over it. The shared moves are sending a message,
asking for a response (the ``response.create`` queue), the turn edge (and a rotation
waiting for it), and the two ways a conversation ends from inside: :meth:`CoreState.fail`
(an error) and :meth:`CoreState._lose` (a resumable session ended).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Literal

from realtalk.protocol._answers import Answers
from realtalk.protocol._codec import ServerEventParser, response_create
from realtalk.protocol._events import ErrorEvent, Mode, RealtimeEvent, Version
from realtalk.protocol._handoff import HandoffState
from realtalk.protocol._history import History
from realtalk.protocol._outbox import AUDIO_OUTBOX_LIMIT, Outbox
from realtalk.protocol._playback import AssistantAudio, PlaybackClock
from realtalk.protocol._questions import ApprovalAnswer, QuestionState
from realtalk.protocol._restore import LossCause, Replayed, Rotation, SessionLost
from realtalk.protocol._transcript import TranscriptAccumulator

__all__ = [
    "CREATE",
    "TRUNCATE",
    "ApprovalAnswer",
    "CancelDelegation",
    "CoreState",
    "Delegate",
    "EndReason",
    "Media",
    "Output",
]

logger = logging.getLogger(__name__)

_BEST_EFFORT_IDS: Final = 16

EndReason = Literal["transport_closed", "error", "session_lost"]

TRUNCATE: Final = "truncate"
"""What a queued ``conversation.item.truncate`` is (its failure to send is survived)."""
CREATE: Final = "response.create"
"""What a queued ``response.create`` is (the active-response race is survived)."""


class Media(enum.Enum):
    """Who plays the assistant's audio, and so who handles barge-in."""

    WEBSOCKET = "websocket"  # audio deltas over the socket: the client plays and truncates
    WEBRTC = "webrtc"  # a media track: the server owns the output buffer


@dataclass(frozen=True, slots=True)
class Delegate:
    """Hand ``text`` (a ``<realtime_delegation>``) to the background agent."""

    text: str


@dataclass(frozen=True, slots=True)
class CancelDelegation:
    """Stop the background agent's running task: the user cancelled it.

    The core has already answered the handoff (the model will say it was cancelled);
    the task's trailing events and its end are dropped when they arrive.
    """


Output = RealtimeEvent | Delegate | CancelDelegation | ApprovalAnswer


class CoreState:
    """One conversation's protocol state (see the module docstring)."""

    def __init__(
        self,
        version: Version,
        *,
        mode: Mode = Mode.CONVERSATIONAL,
        media: Media = Media.WEBSOCKET,
        playback: PlaybackClock | None = None,
        audio_limit: int = AUDIO_OUTBOX_LIMIT,
        resumable: bool = False,
    ) -> None:
        """``resumable``: the I/O layer continues the conversation on a new session when
        this one ends (see :mod:`._conversation`); else such an end is final."""
        self.version = version
        self.mode = Mode.CONVERSATIONAL if version is Version.V1 else mode
        self.media = media
        self.playback = playback
        self.end_reason: EndReason | None = None
        self.resumable = resumable
        self.lost: SessionLost | None = None
        self._v2 = version is Version.V2
        self._truncates = self._v2 and media is Media.WEBSOCKET
        self._parser = ServerEventParser(version)
        self._transcript = TranscriptAccumulator()
        self._handoff = HandoffState(version)
        self._questions = QuestionState(version)
        self._answers = Answers()
        self._audio = AssistantAudio()
        self._outbox = Outbox(audio_limit)
        self._outputs: deque[Output] = deque()
        # event_ids whose `error` is logged, not fatal (_core_input makes them)
        self._best_effort: deque[str] = deque(maxlen=_BEST_EFFORT_IDS)
        self._best_effort_count = 0
        self._spoken = False  # input audio queued since the last begin/end of speech
        self._history = History()
        self._replayed = Replayed(())
        self._rotation = Rotation()

    # ------------------------------------------------------------ shared moves

    def _send(self, message: dict[str, Any], what: str) -> None:
        self._outbox.put(message, what)

    def _request_create(self, reason: str) -> None:
        if self._answers.request(reason):
            self._send_create()

    def _send_create(self) -> None:
        self._send(response_create(), CREATE)

    def _update_turn(self) -> None:
        edge = self._answers.turn(delegated=self._handoff.active)
        if edge is not None:
            self._outputs.append(edge)
        if self._rotation.due:
            self._rotate_if_quiet()

    def _rotate_if_quiet(self) -> None:
        if self._answers.quiet:
            self._lose("rotation", "renewed the session at its age limit (turn boundary)")

    # --------------------------------------------------------------- the ends

    def fail(self, message: str) -> None:
        """End the conversation with an error (a local failure: a bug, a failed join)."""
        if self.end_reason is None:
            logger.error("realtime conversation failed: %s", message)
            self._outputs.append(ErrorEvent(message))
            self.end_reason = "error"

    def _lose(self, cause: LossCause, detail: str) -> bool:
        """The session ended; a resumable core ends with ``session_lost`` (True)."""
        if not self.resumable:
            return False
        if self.end_reason is None:
            logger.warning(
                "realtime session ended; a new session can continue the conversation",
                extra={"cause": cause, "detail": detail},
            )
            self.lost = SessionLost(cause, detail)
            self.end_reason = "session_lost"
        return True

"""What the assistant owes and is doing: responses, answers owed, and the turn they make.

Part of :class:`ConversationCore` (pure). It keeps:

* the ``response.create`` queue (:class:`ResponseCreateQueue`), for v1 and v2: a create
  is sent only when no response is active;
* v1's own response lifecycle, since v1 has no ``response.*`` events: an answer starts
  when an assistant item is added (or its transcript starts) and ends at
  ``response.output_audio_transcript.done`` or that item's ``conversation.item.done``;
* ``owed``: answers the assistant still owes (a request, speech, a create we asked for;
  v1 speaks every ``conversation.handoff.append`` as its own answer), consumed when a
  response starts;
* whether the server's output audio buffer is playing (WebRTC).

:meth:`Answers.turn` turns that (and whether a delegated task runs) into the edges of a
turn: ``TurnStarted`` when something becomes owed, ``TurnDone`` when nothing is.
"""

from __future__ import annotations

from typing import Final, Literal

from realtalk.protocol._events import TurnDone, TurnStarted
from realtalk.protocol._response_queue import QueueState, ResponseCreateQueue

__all__ = ["Answers"]

_TURN_STARTED: Final = TurnStarted()
_TURN_DONE: Final = TurnDone()

Finish = Literal["done", "cancelled"]


class Answers:
    """Responses and owed answers of one conversation (see the module docstring)."""

    __slots__ = ("_busy", "_owed", "_queue", "_server_playing", "_v1_item", "_v1_speaking")

    def __init__(self) -> None:
        self._queue = ResponseCreateQueue()
        self._owed = 0
        self._v1_item: str | None = None
        self._v1_speaking = False
        self._server_playing = False
        self._busy = False

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def owes_answer(self) -> bool:
        """An answer is owed or being given (what a new session must answer again)."""
        return self._owed > 0 or self.response_active

    @property
    def quiet(self) -> bool:
        """Nothing is owed, answered or played: a turn boundary (a delegation may run)."""
        return not (self._owed or self._server_playing or self.response_active)

    def carry(self, *, busy: bool) -> None:
        """Start from an earlier session's turn state (so its open turn can end here)."""
        self._busy = busy

    @property
    def response_active(self) -> bool:
        """A response is active or a create is on its way (as far as the queue knows)."""
        return self._queue.state is not QueueState.IDLE

    # -- what is owed --

    def request(self, reason: str) -> bool:
        """An answer is wanted; True: send ``response.create`` now (else it is owed)."""
        self._owed = max(self._owed, 1)  # creates coalesce in the queue: one answer
        return self._queue.request_create(reason)

    def spoken_append(self) -> None:
        """v1 sent ``conversation.handoff.append``: the model will speak it."""
        self._owed += 1

    def speech(self) -> None:
        """The person started talking: an answer to *this* is owed (older ones are moot)."""
        self._owed = 1

    def transcribed(self) -> None:
        """Transcription mode: the transcript is the whole answer."""
        self._owed = 0

    # -- the create queue's outcomes --

    def send_failed(self, error: str) -> bool:
        """Our create failed to send; True if that is the benign active-response race."""
        return self._queue.on_send_result(error)

    def rejected(self) -> None:
        """The server refused our create: a response is active; owe it."""
        self._queue.on_active_response_error()

    # -- responses --

    def started(self, response_id: str | None) -> None:
        self._queue.on_response_created(response_id)
        if self._owed:
            self._owed -= 1

    def finished(self, response_id: str | None, kind: Finish) -> bool:
        """A response ended; True: send the owed ``response.create`` now."""
        return self._queue.on_response_finished(response_id, kind)

    def v1_started(self, item_id: str | None) -> None:
        if self._v1_speaking:
            self._v1_item = self._v1_item or item_id
            return
        self._v1_speaking = True
        self._v1_item = item_id
        self.started(None)

    def v1_finished(self, item_id: str | None = None) -> bool:
        """A v1 answer ended (transcript done, or ``item_id``'s item done); True: create."""
        if not self._v1_speaking or (item_id is not None and item_id != self._v1_item):
            return False
        self._v1_speaking = False
        self._v1_item = None
        return self.finished(None, "done")

    def v1_handoff(self) -> bool:
        """A v1 handoff request is the model's whole answer; True: send the owed create."""
        self._v1_speaking = False
        self._v1_item = None
        self.started(None)
        return self.finished(None, "done")

    @property
    def server_playing_now(self) -> bool:
        """The server's output audio buffer is playing (WebRTC)."""
        return self._server_playing

    def server_playing(self, *, playing: bool) -> None:
        self._server_playing = playing

    # -- the turn --

    def turn(self, *, delegated: bool) -> TurnStarted | TurnDone | None:
        """The turn edge now, if the state changed (``delegated``: an agent task runs)."""
        busy = self._owed > 0 or self.response_active or delegated or self._server_playing
        if busy is self._busy:
            return None
        self._busy = busy
        return _TURN_STARTED if busy else _TURN_DONE

"""The person's side of the conversation core: text, audio, push-to-talk, interrupt.

Part of :class:`ConversationCore` (pure). The person's text and audio are never held
back, whatever the agent is doing: they go out in the order given, and a response they
ask for waits only for the active one (the ``response.create`` queue).

Stopping the assistant is cut at the played position over WebSocket v2: the assistant
item playing (the last one with audio) is truncated where it was heard
(:mod:`._playback`: the player's clock, else the wall clock since its first delta),
both on the server's ``speech_started`` (barge-in, :mod:`._core_events`) and on
:meth:`UserInput.interrupt` (a key). Over WebRTC the server owns the output buffer: an
interrupt clears it instead. What these send is best effort: each carries an
``event_id`` of :meth:`UserInput._best_effort_id`, so the server's refusal of it (the
response just ended) is logged, not shown.
"""

from __future__ import annotations

from realtalk.protocol._codec import (
    input_audio_clear,
    input_audio_commit,
    item_truncate,
    output_audio_buffer_clear,
    response_cancel,
    user_text_item,
)
from realtalk.protocol._core_state import TRUNCATE, CoreState, Media
from realtalk.protocol._events import AudioFrame

__all__ = ["UserInput"]


class UserInput(CoreState):
    """What the person does: say or type, push to talk, stop the assistant."""

    def user_text(self, text: str) -> bool:
        """Append user text to the conversation (append-only: no response is asked)."""
        if self.end_reason is not None:
            return False
        self._send(user_text_item(self.version, text), "input text")
        self._history.typed(text)
        return True

    def user_audio(self, frame: AudioFrame) -> bool:
        """Queue one input audio frame; False if it was dropped (queue full or ended)."""
        if self.end_reason is not None:
            return False
        queued = self._outbox.put_audio(frame)
        self._spoken = self._spoken or queued
        return queued

    def begin_speech(self, now: float) -> bool:
        """Push-to-talk pressed (a session without server VAD, v2): the person talks.

        The assistant is stopped (:meth:`interrupt`) and input audio not committed yet
        is dropped, so the turn holds only what is said from now on.
        """
        if self.end_reason is not None or not self._v2:
            return False
        self.interrupt(now)
        self._send(input_audio_clear(), "input_audio_buffer.clear")
        self._spoken = False
        return True

    def end_speech(self) -> bool:
        """Push-to-talk released: commit what was said and ask for the answer.

        False, and nothing sent, when no audio came since :meth:`begin_speech` (the
        server refuses to commit an empty buffer).
        """
        if self.end_reason is not None or not self._v2 or not self._spoken:
            return False
        self._spoken = False
        self._send(input_audio_commit(), "input_audio_buffer.commit")
        self._request_create("push to talk")
        self._update_turn()
        return True

    def request_response(self, reason: str = "user request") -> bool:
        """Ask the model to answer (after everything queued so far)."""
        if self.end_reason is not None:
            return False
        self._request_create(reason)
        self._update_turn()
        return True

    def interrupt(self, now: float) -> bool:
        """The person stops the assistant (a key, not speech); False: nothing to stop.

        v2 only. An active response is cancelled (``response.cancel``); over WebSocket
        the answer is cut where it was heard, by the barge-in rule; over WebRTC the
        server's output buffer is cleared (``output_audio_buffer.clear``). Both are
        best effort: a refusal (the response just ended) is logged, not shown.
        """
        if self.end_reason is not None or not self._v2:
            return False
        sent = False
        if self._answers.response_active:
            self._send(response_cancel(self._best_effort_id("cancel")), "response.cancel")
            sent = True
        if self._truncates:
            sent = self._truncate_playing(now) or sent
        elif self.media is not Media.WEBSOCKET and self._answers.server_playing_now:
            clear = output_audio_buffer_clear(self._best_effort_id("clear"))
            self._send(clear, "output_audio_buffer.clear")
            sent = True
        return sent

    def _best_effort_id(self, what: str) -> str:
        """An ``event_id`` whose ``error`` is logged, not fatal (see ``_on_error``)."""
        self._best_effort_count += 1
        event_id = f"realtalk_{what}_{self._best_effort_count}"
        self._best_effort.append(event_id)
        return event_id

    def _truncate_playing(self, now: float) -> bool:
        """Cut the assistant item playing now at the played position (WebSocket v2)."""
        cut = self._audio.cut(now, self.playback, response_active=self._answers.response_active)
        if cut is None:
            return False
        self._send(item_truncate(*cut, event_id=self._best_effort_id("truncate")), TRUNCATE)
        return True

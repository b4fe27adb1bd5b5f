"""Which ``response.output_text.delta`` pieces of one request the agent passes on.

Pure bookkeeping (no I/O), fed with the text deltas of one request in order:

* Only the first output item that streams text is passed on: the deltas a consumer
  sees before the next ``AssistantMessage`` must belong to that one message. Later
  messages of the same response arrive whole.
* A retried request (``StreamRetry``) starts its text again. What an earlier attempt
  already passed on is not repeated: the new attempt's text is compared with it and
  only the part beyond it goes out. If the new attempt says something else, nothing
  more goes out for this request (the final ``AssistantMessage`` is authoritative).
"""

from __future__ import annotations

__all__ = ["TextDeltaFilter"]


class TextDeltaFilter:
    """Filters the text deltas of one request (one instance per request)."""

    def __init__(self) -> None:
        self._shown: list[str] = []
        self._shown_len = 0
        self._replay = ""
        self._pos = 0
        self._index: int | None = None
        self._diverged = False

    @property
    def shown(self) -> str:
        """All text passed on so far."""
        return "".join(self._shown)

    def retry(self) -> None:
        """The request starts over: the next deltas replay the text from its start."""
        self._replay = self.shown
        self._shown = [self._replay] if self._replay else []
        self._pos = 0
        self._index = None
        self._diverged = False

    def feed(self, output_index: int, delta: str) -> str:
        """The part of ``delta`` to pass on ("" for nothing)."""
        if self._index is None:
            self._index = output_index
        if output_index != self._index or self._diverged or not delta:
            return ""
        start = self._pos
        self._pos += len(delta)
        if start < self._shown_len:
            # Replaying text an earlier attempt already passed on.
            seen = self._replay[start : self._pos]
            if not delta.startswith(seen):
                self._diverged = True
                return ""
            delta = delta[len(seen) :]
            if not delta:
                return ""
        self._shown.append(delta)
        self._shown_len += len(delta)
        return delta

"""The emulated conversation: items, the latest client input and backend messages (pure)."""

from __future__ import annotations

from typing import Any, NamedTuple

from realtalk.emulator._script import (
    ANSWER_APPROVAL_TOOL,
    BACKEND_PREFIX,
    BACKGROUND_AGENT_TOOL,
    USER_PREFIX,
    InputKind,
    LastInput,
    Question,
    approval_question,
)
from realtalk.emulator._wire import IdFactory

__all__ = ["Conversation", "ItemError"]

JsonDict = dict[str, Any]
_ITEM_TYPES = ("message", "function_call", "function_call_output")
_JSON_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string"}


class ItemError(NamedTuple):
    """A client request the conversation rejects (becomes an ``error`` event)."""

    message: str
    code: str
    param: str


class Conversation:
    """Ordered items plus what the next response should react to."""

    def __init__(self, ids: IdFactory) -> None:
        self._ids = ids
        self.items: dict[str, JsonDict] = {}
        """Every item, in conversation order. Change it only through this class: what
        the next response needs is indexed as items arrive (below), so answering stays
        O(1) in the conversation's length instead of rescanning every item."""
        self.last_input = LastInput(InputKind.NONE)
        self.backend_since_handoff: str | None = None
        self._reindex()

    def _reindex(self) -> None:
        """Rebuild the indexes from ``items`` (after a delete or a replaced item: rare)."""
        self._user_texts: dict[str, str] = {}  # user message id -> its text, in order
        self._call_names: dict[str | None, str] = {}  # call_id -> its latest call's tool
        self._agent_calls: set[str | None] = set()  # background_agent call ids
        self._answered: set[str | None] = set()  # call ids with a function_call_output
        self._question: Question | None = None  # the latest unanswered approval question
        for item in self.items.values():
            self._index(item)

    def _index(self, item: JsonDict) -> None:
        kind = item.get("type")
        call_id = item.get("call_id")
        call_id = call_id if isinstance(call_id, str) else None  # client JSON: any type
        if kind == "message":
            if item.get("role") == "user":
                text = _text(item)
                self._user_texts[item["id"]] = text
                asked = approval_question(text)
                if asked is not None:
                    self._question = asked
        elif kind == "function_call":
            name = item.get("name")
            self._call_names[call_id] = name if isinstance(name, str) else ""
            if name == BACKGROUND_AGENT_TOOL:
                self._agent_calls.add(call_id)
            elif name == ANSWER_APPROVAL_TOOL:
                self._question = None
        elif kind == "function_call_output":
            self._answered.add(call_id)

    def _put(self, item_id: str, item: JsonDict) -> None:
        """Store ``item`` (a new id goes last; a known id keeps its place)."""
        known = self.items.get(item_id)
        self.items[item_id] = item
        if known is None:
            self._index(item)
        elif known is not item:
            self._reindex()

    def last_item_id(self) -> str | None:
        return next(reversed(self.items), None)

    def user_texts_before(self, item_id: str) -> tuple[str, ...]:
        """What the user said before ``item_id`` (typed text and transcripts; ``[USER] ``
        stripped, ``[BACKEND] `` updates left out), oldest first."""
        said: list[str] = []
        texts = self._user_texts
        for key in self.items:
            if key == item_id:
                break
            text = texts.get(key)
            if text is not None and text.strip() and not text.startswith(BACKEND_PREFIX):
                said.append(text.removeprefix(USER_PREFIX))
        return tuple(said)

    def take_last_input(self) -> LastInput:
        """The input the next response answers; resets it to ``NONE``."""
        last, self.last_input = self.last_input, LastInput(InputKind.NONE)
        return last

    def handoff_called(self) -> None:
        """The model called ``background_agent``: older backend messages no longer count."""
        self.backend_since_handoff = None

    def delegating(self) -> bool:
        """A ``background_agent`` call has no ``function_call_output`` yet (a task runs)."""
        return not self._agent_calls <= self._answered

    def pending_question(self) -> Question | None:
        """The agent's approval question waiting for the user (rule 1a): the latest
        ``[BACKEND] `` question with no ``answer_approval`` call after it, while a
        delegation runs."""
        question = self._question
        return question if question is not None and self.delegating() else None

    def remember(self, item: JsonDict) -> None:
        """Keep a model output item (so later tool outputs and retrieves can find it)."""
        item_id = item.get("id")
        if isinstance(item_id, str):
            self._put(item_id, item)

    def _tool_name(self, call_id: Any) -> str:
        return self._call_names.get(call_id if isinstance(call_id, str) else None, "")

    def add_audio_item(self, item: JsonDict, transcript: str, *, track_input: bool) -> None:
        self._put(item["id"], item)
        if track_input:
            self.last_input = LastInput(InputKind.USER_TEXT, transcript, item["id"])

    def add_client_item(self, item: Any) -> list[JsonDict] | ItemError:
        """Store a ``conversation.item.create`` item; returns its added/done acks."""
        if not isinstance(item, dict):
            return ItemError(
                "Missing required parameter: 'item'.", "missing_required_parameter", "item"
            )
        item_type = item.get("type")
        if item_type not in _ITEM_TYPES:
            return ItemError(
                f"Invalid value: '{item_type}'. Supported values are: 'message', "
                "'function_call', and 'function_call_output'.",
                "invalid_value",
                "item.type",
            )
        content = item.get("content")
        if item_type == "message" and content is not None and not isinstance(content, list):
            got = _JSON_TYPE_NAMES.get(type(content), "an object")
            return ItemError(
                f"Invalid type for 'item.content': expected an array of content parts, "
                f"but got {got} instead.",
                "invalid_type",
                "item.content",
            )
        given_id = item.get("id")
        item_id = given_id if isinstance(given_id, str) and given_id else self._ids.next("item")
        stored = {**item, "id": item_id, "object": "realtime.item", "status": "completed"}
        previous = self.last_item_id()
        self._put(item_id, stored)
        if item_type == "function_call_output":
            self.last_input = LastInput(
                InputKind.TOOL_OUTPUT,
                str(item.get("output", "")),
                item_id,
                self._tool_name(item.get("call_id")),
            )
        elif item_type == "message" and item.get("role") != "assistant":
            text = "".join(
                part["text"]
                for part in content or []
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
            if text.startswith(BACKEND_PREFIX):
                self.backend_since_handoff = text.removeprefix(BACKEND_PREFIX)
                self.last_input = LastInput(
                    InputKind.BACKEND_TEXT, self.backend_since_handoff, item_id
                )
            else:
                self.last_input = LastInput(InputKind.USER_TEXT, text, item_id)
        return [
            {"type": "conversation.item.added", "previous_item_id": previous, "item": stored},
            {"type": "conversation.item.done", "previous_item_id": previous, "item": stored},
        ]

    def truncate(self, event: JsonDict) -> JsonDict | ItemError:
        """Ack a ``conversation.item.truncate`` (the emulator keeps no audio to cut)."""
        item_id = event.get("item_id")
        index = event.get("content_index")
        end_ms = event.get("audio_end_ms")
        if not (isinstance(item_id, str) and isinstance(index, int) and isinstance(end_ms, int)):
            return ItemError(
                "Missing required parameters: 'item_id', 'content_index' and 'audio_end_ms'.",
                "missing_required_parameter",
                "item_id",
            )
        return {
            "type": "conversation.item.truncated",
            "item_id": item_id,
            "content_index": index,
            "audio_end_ms": end_ms,
        }

    def delete(self, item_id: Any) -> JsonDict | ItemError:
        if not isinstance(item_id, str) or self.items.pop(item_id, None) is None:
            return ItemError(
                f"Item with item_id not found: {item_id}", "item_delete_invalid_item_id", "item_id"
            )
        self._reindex()
        return {"type": "conversation.item.deleted", "item_id": item_id}

    def retrieve(self, item_id: Any) -> JsonDict | ItemError:
        item = self.items.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            return ItemError(
                f"Item with item_id not found: {item_id}",
                "item_retrieve_invalid_item_id",
                "item_id",
            )
        return {"type": "conversation.item.retrieved", "item": item}


def _text(item: JsonDict) -> str:
    """A message item's text (its text parts and transcripts, joined)."""
    parts = item.get("content")
    return "".join(
        str(part.get("text") or part.get("transcript") or "")
        for part in (parts if isinstance(parts, list) else [])
        if isinstance(part, dict)
    )

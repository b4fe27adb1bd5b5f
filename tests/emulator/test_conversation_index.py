"""The emulated conversation's indexes agree with a plain rescan of its items.

The conversation answers "what did the user say before", "does a delegation run", "is
an approval question waiting" and "which tool was this call" from indexes kept as items
arrive. Here random sequences of client items, model items (new and replaced) and
deletes are checked against the definitions, rescanned over every item each time.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from realtalk.emulator._conversation import Conversation, _text
from realtalk.emulator._script import (
    ANSWER_APPROVAL_TOOL,
    BACKEND_PREFIX,
    BACKGROUND_AGENT_TOOL,
    USER_PREFIX,
    Question,
    approval_question,
)
from realtalk.emulator._wire import IdFactory

JsonDict = dict[str, Any]


def _delegating(items: list[JsonDict]) -> bool:
    answered = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
    return any(
        i.get("type") == "function_call"
        and i.get("name") == BACKGROUND_AGENT_TOOL
        and i.get("call_id") not in answered
        for i in items
    )


def _question(items: list[JsonDict]) -> Question | None:
    question: Question | None = None
    for item in items:
        if item.get("type") == "function_call" and item.get("name") == ANSWER_APPROVAL_TOOL:
            question = None
        elif item.get("type") == "message" and item.get("role") == "user":
            asked = approval_question(_text(item))
            if asked is not None:
                question = asked
    return question if question is not None and _delegating(items) else None


def _said_before(items: list[JsonDict], item_id: str) -> tuple[str, ...]:
    said: list[str] = []
    for item in items:
        if item["id"] == item_id:
            break
        if item.get("type") == "message" and item.get("role") == "user":
            text = _text(item)
            if text.strip() and not text.startswith(BACKEND_PREFIX):
                said.append(text.removeprefix(USER_PREFIX))
    return tuple(said)


def _tool_name(items: list[JsonDict], call_id: str) -> str:
    for item in reversed(items):
        if item.get("type") == "function_call" and item.get("call_id") == call_id:
            return str(item.get("name"))
    return ""


_CALL_IDS = ("call_a", "call_b", "call_c")
_TEXTS = (
    "hello",
    f"{USER_PREFIX}run the tests",
    f"{BACKEND_PREFIX}done",
    f"{BACKEND_PREFIX}The agent asks for approval (request_id r1): May I run curl?",
    f"{BACKEND_PREFIX}The agent asks for approval (request_id r2): May I run pip?",
    "  ",
)
_user = st.builds(
    lambda text: {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    },
    st.sampled_from(_TEXTS),
)
_call = st.builds(
    lambda name, call_id: {
        "type": "function_call",
        "name": name,
        "call_id": call_id,
        "arguments": "{}",
    },
    st.sampled_from((BACKGROUND_AGENT_TOOL, ANSWER_APPROVAL_TOOL, "remain_silent")),
    st.sampled_from(_CALL_IDS),
)
_output = st.builds(
    lambda call_id: {"type": "function_call_output", "call_id": call_id, "output": "ok"},
    st.sampled_from(_CALL_IDS),
)
_op = st.one_of(
    st.tuples(st.just("client"), st.one_of(_user, _call, _output)),
    st.tuples(st.just("model"), st.one_of(_call, _user)),  # remembered, like item.done
    st.tuples(st.just("replace"), st.integers(0, 30), st.one_of(_call, _user)),
    st.tuples(st.just("delete"), st.integers(0, 30)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_op, max_size=30))
def test_indexes_agree_with_a_rescan(ops: list[tuple[Any, ...]]) -> None:
    conversation = Conversation(IdFactory())
    model_ids = iter(f"item_model{n}" for n in range(1000))
    for op in ops:
        ids = list(conversation.items)
        if op[0] == "client":
            assert not isinstance(conversation.add_client_item(dict(op[1])), tuple)
        elif op[0] == "model":
            conversation.remember({**op[1], "id": next(model_ids)})
        elif op[0] == "replace" and ids:
            conversation.remember({**op[2], "id": ids[op[1] % len(ids)]})
        elif op[0] == "delete" and ids:
            conversation.delete(ids[op[1] % len(ids)])
        items = list(conversation.items.values())
        assert conversation.delegating() == _delegating(items)
        assert conversation.pending_question() == _question(items)
        for item in items:
            assert conversation.user_texts_before(item["id"]) == _said_before(items, item["id"])
        for call_id in _CALL_IDS:
            assert conversation._tool_name(call_id) == _tool_name(items, call_id)

"""Pure parts of the emulator: script rules, VAD table and detector, session merge."""

from __future__ import annotations

import itertools
import json

import pytest

from realtalk.emulator._audio import (
    CHUNK_BYTES,
    TONE_CHUNK,
    VAD_TRANSITIONS,
    VadAction,
    VadDetector,
    VadInput,
    VadState,
    pcm_rms,
)
from realtalk.emulator._script import (
    InputKind,
    LastInput,
    PlanKind,
    declared_tools,
    plan_response,
    split_words,
    transcript_for_turn,
)
from realtalk.emulator._speech import speech_chunk_count
from realtalk.emulator._wire import (
    IdFactory,
    apply_session_update,
    default_session,
    merge_session,
    turn_detection,
)

from ._client import HANDOFF_TOOLS, pcm_tone

REALTALK = declared_tools(HANDOFF_TOOLS)


def _user(text: str) -> LastInput:
    return LastInput(InputKind.USER_TEXT, text, "item_1")


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("[USER] Agent, list files", "background_agent"),
        ("  agent, x", "background_agent"),
        ("Could you ask the agent to build", "background_agent"),
        ("[USER] please STAY SILENT", "remain_silent"),
        ("agent, stay silent", "remain_silent"),  # silence wins
    ],
)
def test_v2_tool_triggers(text: str, tool: str) -> None:
    plan = plan_response(_user(text), None, v1=False, declared=REALTALK)
    assert (plan.kind, plan.tool_name) == (PlanKind.CALL_TOOL, tool)
    if tool == "background_agent":
        assert json.loads(plan.arguments) == {"prompt": text.removeprefix("[USER] ")}
    else:
        assert plan.arguments == "{}"
    # Undeclared (or forbidden by tool_choice) tools are never called: the model talks.
    for declared in (None, declared_tools(HANDOFF_TOOLS, "none")):
        plan = plan_response(_user(text), None, v1=False, declared=declared)
        assert (plan.kind, plan.text) == (
            PlanKind.SPEAK,
            f"You said: {text.removeprefix('[USER] ')}",
        )


def test_v1_triggers() -> None:
    assert plan_response(_user("Agent, go"), None, v1=True)[:2] == (PlanKind.HANDOFF, "Agent, go")
    assert plan_response(_user("stay silent"), None, v1=True).kind is PlanKind.NOTHING


@pytest.mark.parametrize(
    ("last", "backend", "said"),
    [
        (_user("[USER] hello"), None, "You said: hello"),
        (_user("agents are nice"), None, "You said: agents are nice"),
        (LastInput(InputKind.BACKEND_TEXT, "done"), None, "The agent says: done"),
        (LastInput(InputKind.TOOL_OUTPUT, "x"), "latest", "The agent says: latest"),
        (LastInput(InputKind.TOOL_OUTPUT, "x"), None, "Okay."),
        (LastInput(InputKind.NONE), None, "How can I help?"),
    ],
)
def test_spoken_answers(last: LastInput, backend: str | None, said: str) -> None:
    for v1 in (False, True):
        plan = plan_response(last, backend, v1=v1)
        assert (plan.kind, plan.text) == (PlanKind.SPEAK, said)


def test_transcript_rule() -> None:
    assert transcript_for_turn(0, 1234, ()) == "(speech 1.2s)"
    assert [transcript_for_turn(k, 0, ("a", "b")) for k in range(3)] == ["a", "b", "a"]


@pytest.mark.parametrize("text", ["You said: hello  there", " lead", "", "one"])
def test_split_words_round_trips(text: str) -> None:
    assert "".join(split_words(text)) == text


def test_speech_length_rule() -> None:
    assert speech_chunk_count("") == 10
    assert speech_chunk_count("a b c") == 16
    assert speech_chunk_count("w " * 500) == 150


def test_vad_table_is_total_and_as_specified() -> None:
    assert set(VAD_TRANSITIONS) == set(itertools.product(VadState, VadInput))
    expected = {
        (VadState.SILENT, VadInput.VOICED): (VadState.SPEAKING, VadAction.SPEECH_STARTED),
        (VadState.SILENT, VadInput.UNVOICED): (VadState.SILENT, VadAction.NONE),
        (VadState.SILENT, VadInput.HANGOVER_EXPIRED): (VadState.SILENT, VadAction.NONE),
        (VadState.SPEAKING, VadInput.VOICED): (VadState.SPEAKING, VadAction.NONE),
        (VadState.SPEAKING, VadInput.UNVOICED): (VadState.SPEAKING, VadAction.NONE),
        (VadState.SPEAKING, VadInput.HANGOVER_EXPIRED): (VadState.SILENT, VadAction.SPEECH_STOPPED),
    }
    assert expected == VAD_TRANSITIONS


def test_vad_detector_uses_audio_time_and_odd_chunk_sizes() -> None:
    vad = VadDetector(silence_ms=500)
    pcm = pcm_tone(100, amplitude=0) + pcm_tone(700) + pcm_tone(499, amplitude=0)
    updates = []
    for offset in range(0, len(pcm), 1000):  # chunks that do not align with 20 ms frames
        updates += vad.feed(pcm[offset : offset + 1000])
    assert [(u.action, u.at_ms) for u in updates] == [(VadAction.SPEECH_STARTED, 100)]
    updates = vad.feed(pcm_tone(21, amplitude=0))
    assert [(u.action, u.at_ms) for u in updates] == [(VadAction.SPEECH_STOPPED, 800)]
    assert vad.state is VadState.SILENT


def test_rms_and_tone() -> None:
    assert pcm_rms(b"") == 0.0
    assert pcm_rms(bytes(CHUNK_BYTES)) == 0.0
    assert len(TONE_CHUNK) == CHUNK_BYTES
    assert 500 < pcm_rms(TONE_CHUNK) < 2000  # audible but quiet, and above the VAD threshold


def test_ids_and_merge() -> None:
    ids = IdFactory()
    first, second = ids.next("item"), ids.next("item")
    assert first != second and first.startswith("item_")
    base = {"a": {"b": 1, "c": 2}, "d": [1]}
    assert merge_session(base, {"a": {"b": 5}, "d": None}) == {"a": {"b": 5, "c": 2}, "d": None}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1]}


def test_session_update_rules() -> None:
    base = default_session(version="v2", mode="conversational", session_id="sess_1", model="m")
    result = apply_session_update(base, {"type": "transcription"}, version="v2", model="m")
    assert not isinstance(result, str)
    session, mode = result
    assert (session["type"], session["id"], mode) == ("transcription", "sess_1", "transcription")
    assert "tools" not in session
    result = apply_session_update(
        base, {"instructions": "x", "id": "hijack"}, version="v2", model="m"
    )
    assert not isinstance(result, str)
    assert (result[0]["instructions"], result[0]["id"], result[1]) == (
        "x",
        "sess_1",
        "conversational",
    )
    assert "Invalid value: 'bogus'" in str(
        apply_session_update(base, {"type": "bogus"}, version="v2", model=None)
    )
    assert apply_session_update(base, None, version="v2", model=None) == (
        "Missing required parameter: 'session'."
    )
    v1 = default_session(version="v1", mode="conversational", session_id="sess_2", model=None)
    result = apply_session_update(
        v1, {"type": "quicksilver", "instructions": "y"}, version="v1", model=None
    )
    assert not isinstance(result, str)
    assert (result[0]["type"], result[0]["instructions"], result[1]) == (
        "quicksilver",
        "y",
        "conversational",
    )
    assert turn_detection(result[0], v1=True) == {}
    off = merge_session(base, {"audio": {"input": {"turn_detection": None}}})
    assert turn_detection(off, v1=False) is None
    assert turn_detection(base, v1=False) is not None


def test_what_did_i_say_quotes_the_earlier_user_messages() -> None:
    asked = _user("[USER] What did I say before?")
    plan = plan_response(asked, None, v1=False, earlier=("my name is Ada", "the sky is blue"))
    assert plan.text == 'Before this you said: "my name is Ada"; "the sky is blue".'
    assert plan_response(asked, None, v1=False).text == "You have not said anything before."
    # Bounded: the newest messages are kept.
    many = tuple(f"message {n} " + "x" * 100 for n in range(30))
    quoted = plan_response(asked, None, v1=True, earlier=many).text
    assert len(quoted) < 1100 and quoted.endswith(f'"{many[-1]}".')
    assert '"message 0 ' not in quoted

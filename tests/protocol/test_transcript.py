"""Active transcript accumulation (reference 2.6)."""

from __future__ import annotations

from realtalk.protocol import (
    AudioFrame,
    AudioOut,
    HandoffRequested,
    InputAudioSpeechStarted,
    InputTranscriptDelta,
    InputTranscriptDone,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    RealtimeEvent,
    ResponseCreated,
    TranscriptAccumulator,
    TranscriptEntry,
)


def feed(acc: TranscriptAccumulator, *events: RealtimeEvent) -> list[RealtimeEvent]:
    return [acc.observe(event) for event in events]


def user(text: str) -> TranscriptEntry:
    return TranscriptEntry("user", text)


def assistant(text: str) -> TranscriptEntry:
    return TranscriptEntry("assistant", text)


def test_app_server_example_active_transcript() -> None:
    acc = TranscriptAccumulator()
    *_, handoff = feed(
        acc,
        InputTranscriptDelta("delegate now"),
        OutputTranscriptDelta("working"),
        OutputTranscriptDone("working on it"),
        HandoffRequested("call_1", "item_1", "delegate now"),
    )
    assert isinstance(handoff, HandoffRequested)
    assert handoff.active_transcript == (user("delegate now"), assistant("working on it"))
    assert handoff.handoff_id == "call_1"
    assert handoff.item_id == "item_1"
    assert handoff.input_transcript == "delegate now"


def test_each_handoff_carries_only_the_delta_since_the_previous_one() -> None:
    acc = TranscriptAccumulator()
    first, *_, second = feed(
        acc,
        HandoffRequested("h1", "i1", "first task"),
        OutputTranscriptDelta("on it"),
        InputTranscriptDelta("also this"),
        HandoffRequested("h2", "i2", "second task"),
    )
    assert isinstance(first, HandoffRequested)
    assert isinstance(second, HandoffRequested)
    assert first.active_transcript == (user("first task"),)
    assert second.active_transcript == (assistant("on it"), user("also this"), user("second task"))
    [third] = feed(acc, HandoffRequested("h3", "i3", ""))
    assert isinstance(third, HandoffRequested)
    assert third.active_transcript == ()


def test_handoff_input_not_duplicated_when_any_user_line_matches() -> None:
    acc = TranscriptAccumulator()
    feed(
        acc,
        InputTranscriptDone("  run the tests "),
        OutputTranscriptDone("sure"),
        InputTranscriptDelta("something else"),
    )
    [handoff] = feed(acc, HandoffRequested("h", "i", "run the tests"))
    assert isinstance(handoff, HandoffRequested)
    assert handoff.active_transcript == (
        user("  run the tests "),
        assistant("sure"),
        user("something else"),
    )
    # Later handoffs still see the earlier line and do not re-add it.
    [again] = feed(acc, HandoffRequested("h2", "i2", " run the tests"))
    assert isinstance(again, HandoffRequested)
    assert again.active_transcript == ()


def test_handoff_input_is_trimmed_when_appended() -> None:
    acc = TranscriptAccumulator()
    [handoff] = feed(acc, HandoffRequested("h", "i", "  fix it  \n"))
    assert isinstance(handoff, HandoffRequested)
    assert handoff.active_transcript == (user("fix it"),)


def test_deltas_append_and_done_replaces_same_role_line() -> None:
    acc = TranscriptAccumulator()
    feed(
        acc,
        InputTranscriptDelta("hel"),
        InputTranscriptDelta("lo"),
        InputTranscriptDone("Hello."),
        OutputTranscriptDelta("Hi"),
        OutputTranscriptDelta(" there"),
    )
    assert acc.entries == (user("Hello."), assistant("Hi there"))


def test_empty_deltas_and_dones_are_ignored() -> None:
    acc = TranscriptAccumulator()
    feed(acc, InputTranscriptDelta(""), OutputTranscriptDone(""), InputTranscriptDone(""))
    assert acc.entries == ()


def test_speech_started_forces_new_user_line() -> None:
    acc = TranscriptAccumulator()
    feed(
        acc,
        InputTranscriptDelta("one"),
        InputAudioSpeechStarted(None),
        InputTranscriptDelta("two"),
        InputTranscriptDelta(" more"),
    )
    assert acc.entries == (user("one"), user("two more"))


def test_speech_started_forces_new_line_for_done_too() -> None:
    acc = TranscriptAccumulator()
    feed(
        acc, InputTranscriptDone("one"), InputAudioSpeechStarted("item"), InputTranscriptDone("two")
    )
    assert acc.entries == (user("one"), user("two"))


def test_response_created_forces_new_assistant_line() -> None:
    acc = TranscriptAccumulator()
    feed(
        acc,
        OutputTranscriptDelta("first"),
        ResponseCreated("r2"),
        OutputTranscriptDelta("second"),
        OutputTranscriptDone("second answer"),
    )
    assert acc.entries == (assistant("first"), assistant("second answer"))


def test_handoff_forces_new_lines_for_both_roles() -> None:
    acc = TranscriptAccumulator()
    feed(
        acc,
        InputTranscriptDelta("a"),
        OutputTranscriptDelta("b"),
        HandoffRequested("h", "i", ""),
        OutputTranscriptDelta("c"),
        InputTranscriptDelta("d"),
    )
    assert acc.entries == (user("a"), assistant("b"), assistant("c"), user("d"))


def test_other_events_pass_through_unchanged() -> None:
    acc = TranscriptAccumulator()
    event = AudioOut(AudioFrame("AQID"))
    assert acc.observe(event) is event
    delta = InputTranscriptDelta("x")
    assert acc.observe(delta) is delta


def test_assistant_line_with_same_text_does_not_block_handoff_input() -> None:
    acc = TranscriptAccumulator()
    feed(acc, OutputTranscriptDone("deploy it"))
    [handoff] = feed(acc, HandoffRequested("h", "i", "deploy it"))
    assert isinstance(handoff, HandoffRequested)
    assert handoff.active_transcript == (assistant("deploy it"), user("deploy it"))

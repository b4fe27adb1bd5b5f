"""The conversation core's I/O contract (the traces in tests/traces cover its protocol)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from realtalk import ConversationNotRunningError
from realtalk.protocol import (
    ACTIVE_RESPONSE_RACE_PREFIX,
    AUDIO_OUTBOX_LIMIT,
    AudioFrame,
    AudioOut,
    ConversationCore,
    ErrorEvent,
    InputAudioSpeechStarted,
    Media,
    ResponseCreated,
    StateTable,
    TranscriptEntry,
    TransitionError,
    TurnStarted,
    Version,
)
from realtalk.protocol._playback import AssistantAudio, base64_decoded_len, frame_ms

SILENCE_20MS = base64.b64encode(bytes(960)).decode()


def drain(core: ConversationCore) -> tuple[list[dict[str, Any]], list[object]]:
    sent: list[dict[str, Any]] = []
    while (message := core.next_message()) is not None:
        sent.append(message)
    shown: list[object] = []
    while (output := core.next_output()) is not None:
        shown.append(output)
    return sent, shown


def test_input_audio_beyond_the_limit_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = ConversationCore(Version.V2)
    with caplog.at_level(logging.WARNING, logger="realtalk"):
        accepted = [core.user_audio(AudioFrame(SILENCE_20MS)) for _ in range(260)]
    assert accepted.count(True) == AUDIO_OUTBOX_LIMIT == core.pending_messages
    assert core.pending_control == 0
    assert "dropping input audio frame due to full queue" in caplog.text
    message = core.next_message()
    assert message == {"type": "input_audio_buffer.append", "audio": SILENCE_20MS}
    assert core.user_audio(AudioFrame(SILENCE_20MS))  # room again


def test_messages_keep_the_order_of_the_inputs() -> None:
    core = ConversationCore(Version.V2)
    core.user_audio(AudioFrame(SILENCE_20MS))
    core.user_text("hi")
    core.request_response()
    sent, shown = drain(core)
    assert [m["type"] for m in sent] == [
        "input_audio_buffer.append",
        "conversation.item.create",
        "response.create",
    ]
    assert shown == [TurnStarted()]


def test_a_create_rejected_for_an_active_response_is_owed_not_fatal() -> None:
    core = ConversationCore(Version.V2)
    core.request_response()
    assert core.next_message() == {"type": "response.create"}
    core.send_failed(f"{ACTIVE_RESPONSE_RACE_PREFIX} resp_1")
    assert core.end_reason is None
    core.receive_frame('{"type":"response.done","response":{"id":"resp_1"}}', 0.0)
    assert core.next_message() == {"type": "response.create"}  # the owed one


def test_a_failed_truncate_is_only_logged() -> None:
    core = ConversationCore(Version.V2)
    core.receive_event(AudioOut(AudioFrame(SILENCE_20MS, item_id="item_a")), 1.0)
    core.receive_event(InputAudioSpeechStarted("item_u"), 1.01)
    assert core.next_message()["type"] == "conversation.item.truncate"  # type: ignore[index]
    core.send_failed("realtime websocket connection is closed")
    assert core.end_reason is None


def test_any_other_failed_send_ends_the_conversation_with_what_failed() -> None:
    core = ConversationCore(Version.V2)
    core.user_text("hi")
    core.next_message()
    core.send_failed("connection reset")
    assert core.end_reason == "error"
    assert core.next_output() == ErrorEvent("failed to send input text: connection reset")
    # Once ended, inputs are refused and server events ignored.
    assert not core.user_text("more")
    assert not core.user_audio(AudioFrame(SILENCE_20MS))
    assert not core.request_response()
    core.receive_event(ResponseCreated("r"), 2.0)
    assert drain(core) == ([], [])


def test_server_close_and_read_errors_end_the_conversation() -> None:
    closed = ConversationCore(Version.V1)
    closed.stream_ended()
    assert closed.end_reason == "transport_closed"
    assert closed.next_output() is None
    failed = ConversationCore(Version.V1)
    failed.stream_failed("timed out")
    assert failed.end_reason == "error"
    assert failed.next_output() == ErrorEvent("realtime stream error: timed out")


def test_snapshot_exports_the_transcript_and_the_handoff() -> None:
    core = ConversationCore(Version.V2)
    core.receive_frame(
        '{"type":"conversation.item.input_audio_transcription.completed","transcript":"hi"}', 0.0
    )
    core.receive_frame(
        '{"type":"conversation.item.done","item":{"id":"i","type":"function_call",'
        '"name":"background_agent","call_id":"call_7","arguments":"{\\"prompt\\":\\"go\\"}"}}',
        0.0,
    )
    snapshot = core.snapshot()
    assert snapshot.transcript == (TranscriptEntry("user", "hi"), TranscriptEntry("user", "go"))
    assert snapshot.active_handoff_id == "call_7"
    assert snapshot.busy


def test_webrtc_never_truncates() -> None:
    core = ConversationCore(Version.V2, media=Media.WEBRTC)
    core.receive_event(AudioOut(AudioFrame(SILENCE_20MS, item_id="item_a")), 1.0)
    core.receive_event(InputAudioSpeechStarted("item_u"), 1.5)
    assert core.next_message() is None


# --- played position -------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 958, 959, 960, 961])
def test_base64_length_is_computed_without_decoding(size: int) -> None:
    assert base64_decoded_len(base64.b64encode(bytes(size)).decode()) == size


def test_frame_duration_from_samples_or_bytes() -> None:
    assert frame_ms(AudioFrame(SILENCE_20MS)) == 20.0
    assert frame_ms(AudioFrame("", sample_rate=16000, samples_per_channel=1600)) == 100.0
    assert frame_ms(AudioFrame(SILENCE_20MS, num_channels=2)) == 10.0


class Clock:
    def __init__(self, played: float | None) -> None:
        self.played = played

    def played_ms(self, item_id: str) -> float | None:
        return self.played


@pytest.mark.parametrize(
    ("player", "now", "active", "expected"),
    [
        (None, 10.03, True, ("a", 30)),  # wall clock since the first delta
        (None, 99.0, True, ("a", 40)),  # clamped to the 40 ms received
        (None, 99.0, False, None),  # played to its end and the response is over
        (Clock(12.4), 99.0, False, ("a", 12)),  # the player knows better
        (Clock(None), 10.01, False, ("a", 10)),  # the player never saw it: wall clock
        (Clock(-5.0), 10.0, True, ("a", 0)),
    ],
)
def test_cut_position(player: Clock | None, now: float, *, active: bool, expected: Any) -> None:
    audio = AssistantAudio()
    audio.on_delta(AudioFrame(SILENCE_20MS, item_id="a"), 10.0)
    audio.on_delta(AudioFrame(SILENCE_20MS, item_id="a"), 10.001)
    assert audio.cut(now, player, response_active=active) == expected
    assert audio.cut(now, player, response_active=active) is None  # forgotten


def test_a_new_item_restarts_the_count_and_frames_without_items_are_ignored() -> None:
    audio = AssistantAudio()
    audio.on_delta(AudioFrame(SILENCE_20MS, item_id="a"), 1.0)
    audio.on_delta(AudioFrame(SILENCE_20MS), 1.0)
    audio.on_delta(AudioFrame(SILENCE_20MS, item_id="b"), 2.0)
    assert (audio.item_id, audio.first_at, audio.received_ms) == ("b", 2.0, 20.0)


# --- the table shape -----------------------------------------------------------------------


def test_a_table_must_be_total_unless_declared_partial() -> None:
    import enum

    class S(enum.Enum):
        A = 1
        B = 2

    class In(enum.Enum):
        GO = 1

    with pytest.raises(ValueError, match=r"no step for \['B\+GO'\]"):
        StateTable("t", S, In, {(S.A, In.GO): (S.B, None)})
    partial = StateTable("t", S, In, {(S.A, In.GO): (S.B, "out")}, total=False)
    assert partial.step(S.A, In.GO) == (S.B, "out")
    with pytest.raises(TransitionError, match="B does not accept GO"):
        partial.step(S.B, In.GO)
    assert partial.rows() == [("A", "GO", "B", "'out'")]
    assert list(partial) == [(S.A, In.GO)]


def test_not_running_error_is_what_inputs_raise_after_the_end() -> None:
    # The manager turns a refused input into this error (see conversation tests).
    assert str(ConversationNotRunningError()) == "conversation is not running"

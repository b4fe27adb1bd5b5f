"""Line framing and the event -> notification table (pure, no sockets)."""

from __future__ import annotations

import base64
import typing
from typing import Any

import msgspec
import pytest

from realtalk.app_server._mapping import map_event, samples_per_channel
from realtalk.app_server._stdio import LineFramer, Oversized
from realtalk.conversation import AgentActivity, Closed, Realtime, SdpAnswer, Started
from realtalk.protocol import (
    AnswerApprovalRequested,
    AudioFrame,
    AudioOut,
    CancelRequested,
    ConversationItemAdded,
    ConversationItemDone,
    ErrorEvent,
    HandoffRequested,
    InputAudioSpeechStarted,
    InputTranscriptDelta,
    InputTranscriptDone,
    NoopRequested,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputTranscriptDelta,
    OutputTranscriptDone,
    RealtimeEvent,
    ResponseCancelled,
    ResponseCreated,
    ResponseDone,
    SessionUpdated,
    TranscriptEntry,
    TurnDone,
    TurnStarted,
    Version,
)

# ----------------------------------------------------------------------- framing


def test_lines_split_across_chunks_crlf_and_blank_lines() -> None:
    framer = LineFramer(limit=100)
    assert framer.feed(b'{"a"') == []
    assert framer.feed(b':1}\r\n\n  \n{"b":2}\n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert framer.feed(b":3}") == []
    assert framer.finish() == [b'{"c":3}']
    assert framer.finish() == []


def test_line_at_the_limit_passes_and_one_byte_more_is_oversized() -> None:
    framer = LineFramer(limit=10)
    assert framer.feed(b"x" * 10 + b"\n") == [b"x" * 10]
    assert framer.feed(b"y" * 11 + b"\nok\n") == [Oversized(11), b"ok"]


def test_oversized_line_is_skipped_to_its_newline_across_chunks() -> None:
    framer = LineFramer(limit=8)
    assert framer.feed(b"good\n" + b"z" * 6) == [b"good"]
    assert framer.feed(b"z" * 20) == []
    assert framer.feed(b"zz\nnext\n") == [Oversized(28), b"next"]
    assert framer.feed(b"q" * 9) == []
    assert framer.finish() == [Oversized(9)]


# ----------------------------------------------------------------------- mapping

PCM = base64.b64encode(bytes(960)).decode()

ALL_EVENTS: list[tuple[RealtimeEvent, tuple[str, dict[str, Any]] | None]] = [
    (SessionUpdated("sess_1", "i"), None),
    (
        InputAudioSpeechStarted("item_1"),
        (
            "thread/realtime/itemAdded",
            {"item": {"type": "input_audio_buffer.speech_started", "item_id": "item_1"}},
        ),
    ),
    (
        InputTranscriptDelta("he"),
        ("thread/realtime/transcript/delta", {"role": "user", "delta": "he"}),
    ),
    (
        InputTranscriptDone("hello"),
        ("thread/realtime/transcript/done", {"role": "user", "text": "hello"}),
    ),
    (
        OutputTranscriptDelta("hi"),
        ("thread/realtime/transcript/delta", {"role": "assistant", "delta": "hi"}),
    ),
    (
        OutputTranscriptDone("hi there"),
        ("thread/realtime/transcript/done", {"role": "assistant", "text": "hi there"}),
    ),
    (
        AudioOut(AudioFrame(PCM, item_id="item_9")),
        (
            "thread/realtime/outputAudio/delta",
            {
                "audio": {
                    "data": PCM,
                    "sampleRate": 24000,
                    "numChannels": 1,
                    "samplesPerChannel": 480,
                    "itemId": "item_9",
                }
            },
        ),
    ),
    (ResponseCreated("resp_1"), None),
    (
        ResponseCancelled("resp_1"),
        (
            "thread/realtime/itemAdded",
            {"item": {"type": "response.cancelled", "response_id": "resp_1"}},
        ),
    ),
    (ResponseDone("resp_1"), None),
    (OutputAudioBufferStarted("resp_1"), None),
    (OutputAudioBufferStopped("resp_1"), None),
    (OutputAudioBufferCleared("resp_1"), None),
    (TurnStarted(), None),
    (TurnDone(), None),
    (
        ConversationItemAdded({"type": "message", "id": "item_2"}),
        ("thread/realtime/itemAdded", {"item": {"type": "message", "id": "item_2"}}),
    ),
    (ConversationItemDone("item_2"), None),
    (
        HandoffRequested("call_1", "item_3", "do it", (TranscriptEntry("user", "please do it"),)),
        (
            "thread/realtime/itemAdded",
            {
                "item": {
                    "type": "handoff_request",
                    "handoff_id": "call_1",
                    "item_id": "item_3",
                    "input_transcript": "do it",
                    "active_transcript": [{"role": "user", "text": "please do it"}],
                }
            },
        ),
    ),
    (NoopRequested("call_2", "item_4"), None),
    (CancelRequested("call_5", "item_5"), None),  # its item and turn/completed say it
    (AnswerApprovalRequested("call_6", "item_6", approved=True), None),  # its item says it
    (ErrorEvent("upstream boom"), ("thread/realtime/error", {"message": "upstream boom"})),
]


def test_mapping_table_covers_every_realtime_event_type() -> None:
    covered = {type(event) for event, _ in ALL_EVENTS}
    assert covered == set(typing.get_args(RealtimeEvent))


@pytest.mark.parametrize(("event", "expected"), ALL_EVENTS, ids=lambda v: type(v).__name__)
def test_realtime_event_mapping(
    event: RealtimeEvent, expected: tuple[str, dict[str, Any]] | None
) -> None:
    got = map_event("thr_1", Realtime(event))
    if expected is None:
        assert got is None
        return
    assert got is not None
    method, params = expected
    assert got.method == method
    assert msgspec.to_builtins(got.params) == {"threadId": "thr_1", **params}


def test_lifecycle_event_mapping() -> None:
    started = map_event("t", Started("sess", Version.V2))
    assert started is not None and started.method == "thread/realtime/started"
    assert msgspec.to_builtins(started.params) == {
        "threadId": "t",
        "realtimeSessionId": "sess",
        "version": "v2",
    }
    sdp = map_event("t", SdpAnswer("v=answer\r\n"))
    assert sdp is not None and msgspec.to_builtins(sdp.params) == {
        "threadId": "t",
        "sdp": "v=answer\r\n",
    }
    closed = map_event("t", Closed("error"))
    assert closed is not None and closed.method == "thread/realtime/closed"
    assert msgspec.to_builtins(closed.params) == {"threadId": "t", "reason": "error"}
    assert map_event("t", AgentActivity("submitted", "x")) is None


def test_output_audio_without_item_id_omits_it() -> None:
    got = map_event("t", Realtime(AudioOut(AudioFrame(PCM))))
    assert got is not None
    assert "itemId" not in msgspec.to_builtins(got.params)["audio"]


@pytest.mark.parametrize(("size", "channels"), [(960, 1), (961, 1), (962, 1), (1920, 2), (0, 1)])
def test_samples_per_channel_matches_decoded_length(size: int, channels: int) -> None:
    data = base64.b64encode(bytes(size)).decode()
    assert samples_per_channel(data, channels) == size // (2 * channels)

"""Delegation text (reference 4.2, tests 9.4): the wire constants, which input
is delegated, how it is wrapped and unwrapped, and the output cap.
"""

from __future__ import annotations

import pytest

from realtalk.protocol import (
    AGENT_FINAL_MESSAGE_LABEL,
    COMPLETION_ACK,
    HANDOFF_OUTPUT_LIMIT,
    STEERING_ACK,
    TranscriptEntry,
    delegation_input,
    delegation_text,
    handoff_request_text,
    truncate_output,
    wrap_delegation,
)

from ._handoff_support import HELLO, handoff

# --- constants -------------------------------------------------------------------------


def test_wire_constants_are_byte_exact() -> None:
    assert STEERING_ACK == "This was sent to steer the previous background agent task."
    assert COMPLETION_ACK == (
        "Background agent finished. Use the preceding [BACKEND] messages as the result."
    )
    assert AGENT_FINAL_MESSAGE_LABEL == '"Agent Final Message":\n\n'


# --- input selection and delegation text (9.4) -----------------------------------------


def test_prefers_handoff_input_transcript_over_active_transcript() -> None:
    assert handoff_request_text(handoff("ignored", HELLO)) == "ignored"


def test_extracts_text_from_handoff_request_active_transcript_if_input_missing() -> None:
    event = handoff("", (TranscriptEntry("user", "hello"),))
    assert handoff_request_text(event) == "user: hello"


def test_extracts_text_from_handoff_request_input_transcript_if_messages_missing() -> None:
    assert handoff_request_text(handoff("ignored")) == "ignored"


def test_ignores_empty_handoff_request_input_transcript() -> None:
    assert handoff_request_text(handoff("")) is None
    assert delegation_text(handoff("")) is None


def test_whitespace_only_input_counts_as_empty() -> None:
    assert handoff_request_text(handoff("  \n", HELLO)) == "user: hello\nassistant: hi there"
    assert delegation_text(handoff(" \t")) is None


def test_wraps_handoff_with_transcript_delta() -> None:
    assert delegation_text(handoff("delegate this", HELLO)) == (
        "<realtime_delegation>\n  <input>delegate this</input>\n"
        "  <transcript_delta>user: hello\nassistant: hi there</transcript_delta>\n"
        "</realtime_delegation>"
    )


def test_wraps_handoff_without_transcript_delta() -> None:
    assert delegation_text(handoff("delegate this")) == (
        "<realtime_delegation>\n  <input>delegate this</input>\n</realtime_delegation>"
    )


def test_wraps_handoff_from_transcript_when_input_missing() -> None:
    event = handoff("", (TranscriptEntry("user", "a<b"),))
    assert delegation_text(event) == (
        "<realtime_delegation>\n  <input>user: a&lt;b</input>\n"
        "  <transcript_delta>user: a&lt;b</transcript_delta>\n</realtime_delegation>"
    )


def test_wraps_realtime_delegation_input() -> None:
    assert wrap_delegation("hello") == (
        "<realtime_delegation>\n  <input>hello</input>\n</realtime_delegation>"
    )


def test_wraps_realtime_delegation_input_with_xml_escaping() -> None:
    assert wrap_delegation("use a < b && c > d", "saw <that>") == (
        "<realtime_delegation>\n  <input>use a &lt; b &amp;&amp; c &gt; d</input>\n"
        "  <transcript_delta>saw &lt;that&gt;</transcript_delta>\n</realtime_delegation>"
    )


def test_wraps_realtime_delegation_input_with_xml_escaping_without_transcript() -> None:
    assert wrap_delegation("use a < b && c > d", None) == (
        "<realtime_delegation>\n  <input>use a &lt; b &amp;&amp; c &gt; d</input>\n"
        "</realtime_delegation>"
    )


def test_xml_escaping_order_and_quotes_untouched() -> None:
    text = wrap_delegation("&lt; \"q\" 'a'")
    assert "<input>&amp;lt; \"q\" 'a'</input>" in text


# --- truncation --------------------------------------------------------------------------


def test_truncate_output_keeps_short_text() -> None:
    text = "x" * HANDOFF_OUTPUT_LIMIT
    assert truncate_output(text) == text


@pytest.mark.parametrize("length", [HANDOFF_OUTPUT_LIMIT + 1, 5_000, 123_456])
def test_truncate_output_keeps_head_within_limit(length: int) -> None:
    text = "HEAD" + "y" * (length - 4)
    out = truncate_output(text)
    assert len(out) <= HANDOFF_OUTPUT_LIMIT
    assert out.startswith("HEAD")
    assert "tokens truncated" in out
    assert len(out) > HANDOFF_OUTPUT_LIMIT - 40  # the head is as long as the marker allows


# --- unwrapping ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta"),
    [("hello", None), ("use a < b && c > d", "saw <that>\nand more"), ("</input> inside", "x")],
)
def test_delegation_input_unwraps_what_wrap_delegation_built(text: str, delta: str | None) -> None:
    assert delegation_input(wrap_delegation(text, delta)) == text


def test_delegation_input_leaves_other_text_alone() -> None:
    for text in ("plain words", "<realtime_delegation>half", "x <input>y</input>"):
        assert delegation_input(text) == text

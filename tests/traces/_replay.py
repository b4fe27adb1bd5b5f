"""Replays a conversation trace through :class:`ConversationCore`, with no sockets.

A trace is a JSON-lines file. The first line is the header::

    {"trace": {"version": "v2", "media": "websocket", "mode": "conversational",
               "source": "where the server events come from", "about": "what it shows"}}

(``"resumable": true`` builds a core that ends with ``session_lost`` when the session
ends, so the I/O layer can continue on a new one.)

Every other line is one step. Inputs go into the core:

* ``{"server": {...}}`` one server event (a JSON object, sent as the TEXT frame the
  server would send; a string value ``"<pcm:100ms>"`` stands for the base64 of that
  much 24 kHz PCM16 silence, so traces stay readable); ``{"server_raw": "..."}`` a
  TEXT frame given verbatim;
  ``{"server_binary": "<base64>"}`` a binary frame; ``{"server_closed": true}`` the
  server closed the socket (a string: its close code and reason); ``{"read_failed":
  "why"}`` reading failed.
* ``{"user_text": "..."}``, ``{"user_audio": "<base64 pcm>"}``, ``{"request_response": true}``,
  ``{"interrupt": true}`` (the person's interrupt key), ``{"push_to_talk": true|false}``
  (the push-to-talk key: the person starts or ends a spoken turn),
  ``{"cancel_delegation": true}`` (the person cancels the running delegation).
* ``{"agent": "message", "text": "..."}``, ``{"agent": "complete"}``,
  ``{"agent": "failed", "text": "..."}``, ``{"agent": "stopped"}`` (the task ended
  interrupted), ``{"agent": "asks", "id": "appr_1", "question": "May I ...?"}`` (an
  approval question waits for the user), ``{"agent": "resolved", "id": "appr_1",
  "approved": false}`` (the agent says the question was answered, or timed out).
* ``{"clock": 1.25}`` sets the time (seconds) the next inputs happen at;
  ``{"played": {"item_1": 340}}`` what the player reports it has played (ms);
  ``{"send_failed": "why"}`` the message the I/O layer last sent failed.
* ``{"schedule_rotation": [due, deadline]}`` renew the session from ``due`` (at a turn
  boundary) or at ``deadline``; ``{"tick": 3.5}`` the time is now 3.5 s (the core is told).
* ``{"new_session": true}`` the session ended: a new resumable core of the same version,
  mode and media continues from the old core's snapshot (``restore``); the steps after
  it talk to the new core (its restored history, then the new session's events).

Expectations check what the core produced since the previous input, in order:

* ``{"send": {...}}`` the next client message, compared exactly;
* ``{"emit": {...}}`` the next event shown to subscribers, as its JSON (``kind`` tag),
  compared on the keys given (so ``{"emit": {"kind": "audio_out"}}`` matches any
  audio); ``{"delegate": "..."}`` the next text handed to the background agent;
  ``{"cancel": true}`` the next output is the order to stop the agent's task;
  ``{"answer": {"request_id": "appr_1", "approved": true}}`` the next output hands
  the user's answer to the agent's question;
* ``{"end": "error"}`` / ``{"end": null}`` the conversation's end reason now;
  ``{"lost": {"cause": "session_expired", "detail": "..."}}`` why the session ended
  (``SessionLost``; ``null``: it did not).

Before each input, and at the end, everything produced must have been expected: a
message or event the trace does not list fails the replay.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from realtalk.protocol import (
    ApprovalAnswer,
    AudioFrame,
    CancelDelegation,
    ConversationCore,
    Delegate,
    Media,
    Mode,
    Version,
)

TRACES = Path(__file__).parent


@dataclass
class _Player:
    played: dict[str, float] = field(default_factory=dict)

    def played_ms(self, item_id: str) -> float | None:
        return self.played.get(item_id)


class TraceError(AssertionError):
    pass


def load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not lines or "trace" not in lines[0]:
        raise TraceError(f"{path.name}: the first line must be the trace header")
    return lines[0]["trace"], lines[1:]


_PCM = re.compile(r"<pcm:(\d+)ms>")


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        match = _PCM.fullmatch(value)
        return base64.b64encode(bytes(48 * int(match.group(1)))).decode() if match else value
    if isinstance(value, dict):
        return {key: _expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item) for item in value]
    return value


def _event_json(output: object) -> dict[str, Any]:
    if isinstance(output, Delegate):
        return {"delegate": output.text}
    if isinstance(output, CancelDelegation):
        return {"cancel": True}
    if isinstance(output, ApprovalAnswer):
        return {"answer": {"request_id": output.request_id, "approved": output.approved}}
    encoded = json.loads(msgspec.json.encode(output))
    assert isinstance(encoded, dict)
    return encoded


def _brief_send(message: dict[str, Any]) -> dict[str, Any]:
    """A draft expectation: silent input audio is written as a placeholder."""
    audio = message.get("audio")
    if message.get("type") == "input_audio_buffer.append" and isinstance(audio, str):
        pcm = base64.b64decode(audio)
        if not any(pcm):
            return {**message, "audio": f"<pcm:{len(pcm) // 48}ms>"}
    return message


def _brief(encoded: dict[str, Any]) -> dict[str, Any]:
    """A draft expectation: audio is matched on its kind and item only."""
    if encoded.get("kind") == "audio_out":
        return {"kind": "audio_out"}
    return encoded


class Replay:
    def __init__(self, header: dict[str, Any], name: str) -> None:
        self.name = name
        self.header = header
        self.player = _Player()
        self.core = self._new_core(resumable=bool(header.get("resumable", False)))
        self.now = 0.0
        self.sent: list[dict[str, Any]] = []
        self.shown: list[object] = []
        self.line = 0

    def _new_core(self, *, resumable: bool) -> ConversationCore:
        header = self.header
        return ConversationCore(
            Version(header["version"]),
            mode=Mode(header.get("mode", "conversational")),
            media=Media(header.get("media", "websocket")),
            playback=self.player,
            resumable=resumable,
        )

    def fail(self, message: str) -> TraceError:
        return TraceError(f"{self.name}:{self.line}: {message}")

    def _collect(self) -> None:
        while (message := self.core.next_message()) is not None:
            self.sent.append(json.loads(msgspec.json.encode(message)))
        while (output := self.core.next_output()) is not None:
            self.shown.append(output)

    def _settled(self) -> None:
        if self.sent:
            raise self.fail(f"unexpected client message {self.sent[0]}")
        if self.shown:
            raise self.fail(f"unexpected output {_event_json(self.shown[0])}")

    def step(self, step: dict[str, Any]) -> None:
        key, value = next(iter(step.items()))
        if key in _EXPECTATIONS:
            _EXPECTATIONS[key](self, value, step)
            return
        self._settled()
        core = self.core
        if key == "server":
            core.receive_frame(json.dumps(_expand(value)), self.now)
        elif key == "server_raw":
            core.receive_frame(value, self.now)
        elif key == "server_binary":
            core.receive_binary(base64.b64decode(value), self.now)
        elif key == "server_closed":
            core.stream_ended(value if isinstance(value, str) else "")
        elif key == "read_failed":
            core.stream_failed(value)
        elif key == "user_text":
            core.user_text(value)
        elif key == "user_audio":
            core.user_audio(AudioFrame(_expand(value)))
        elif key == "request_response":
            core.request_response()
        elif key == "cancel_delegation":
            outcome = core.cancel_delegation()
            if "cancelled" in step and outcome != step["cancelled"]:
                raise self.fail(f"cancel_delegation() returned {outcome}")
        elif key == "interrupt":
            core.interrupt(self.now)
        elif key == "push_to_talk" and value:
            core.begin_speech(self.now)
        elif key == "push_to_talk":
            core.end_speech()
        elif key == "agent" and value == "message":
            core.agent_message(step["text"])
        elif key == "agent" and value == "failed":
            core.agent_failed(step["text"])
        elif key == "agent" and value == "complete":
            core.agent_complete()
        elif key == "agent" and value == "stopped":
            core.agent_stopped()
        elif key == "agent" and value == "asks":
            core.agent_question(step["id"], step["question"])
        elif key == "agent" and value == "resolved":
            core.agent_question_resolved(step["id"], approved=bool(step["approved"]))
        elif key == "clock":
            self.now = float(value)
        elif key == "played":
            self.player.played.update(value)
        elif key == "send_failed":
            core.send_failed(value)
        elif key == "schedule_rotation":
            core.schedule_rotation(float(value[0]), float(value[1]))
        elif key == "tick":
            self.now = float(value)
            core.tick(self.now)
        elif key == "new_session":
            if core.end_reason != "session_lost":
                raise self.fail(f"new_session, but the session is not lost: {core.end_reason}")
            self.core = self._new_core(resumable=True)
            self.core.restore(core.snapshot())
        else:
            raise self.fail(f"unknown step {key!r}")
        self._collect()

    def finish(self) -> None:
        self._settled()


def _expect_send(replay: Replay, value: Any, step: dict[str, Any]) -> None:
    if not replay.sent:
        raise replay.fail(f"expected client message {value}, nothing was sent")
    actual = replay.sent.pop(0)
    if actual != _expand(value):
        raise replay.fail(f"sent {actual}, expected {value}")


def _expect_output(replay: Replay, value: Any, step: dict[str, Any]) -> None:
    key = next(iter(step))
    expected = {key: value} if key in ("delegate", "cancel", "answer") else value
    if not replay.shown:
        raise replay.fail(f"expected output {expected}, nothing was produced")
    actual = _event_json(replay.shown.pop(0))
    mismatch = {k: actual.get(k, "<absent>") for k, v in expected.items() if actual.get(k) != v}
    if mismatch or set(expected) - set(actual):
        raise replay.fail(f"produced {actual}, expected {expected}")


def _expect_end(replay: Replay, value: Any, step: dict[str, Any]) -> None:
    if replay.core.end_reason != value:
        raise replay.fail(f"end reason is {replay.core.end_reason!r}, expected {value!r}")


def _expect_lost(replay: Replay, value: Any, step: dict[str, Any]) -> None:
    lost = replay.core.lost
    actual = None if lost is None else {"cause": lost.cause, "detail": lost.detail}
    if actual != value:
        raise replay.fail(f"session lost: {actual!r}, expected {value!r}")


_EXPECTATIONS = {
    "lost": _expect_lost,
    "send": _expect_send,
    "emit": _expect_output,
    "delegate": _expect_output,
    "cancel": _expect_output,
    "answer": _expect_output,
    "end": _expect_end,
}


def replay(path: Path) -> Replay:
    header, steps = load(path)
    run = Replay(header, path.name)
    for number, step in enumerate(steps, start=2):
        run.line = number
        run.step(step)
    run.line = len(steps) + 1
    run.finish()
    return run


def draft(path: Path) -> str:
    """The trace with its expectations replaced by what the core produces now.

    A tool for writing traces (``python -m tests.traces._replay FILE``): the output is
    a draft to *review* against the documented behaviour, never to accept blindly.
    """
    header, steps = load(path)
    run = Replay(header, path.name)
    out = [json.dumps({"trace": header})]
    for step in steps:
        key = next(iter(step))
        if key in _EXPECTATIONS:
            continue
        run.step(step)
        out.append(json.dumps(step))
        out.extend(json.dumps({"send": _brief_send(message)}) for message in run.sent)
        for output in run.shown:
            encoded = _event_json(output)
            plain = bool({"delegate", "cancel", "answer"} & set(encoded))
            out.append(json.dumps(encoded if plain else {"emit": _brief(encoded)}))
        run.sent.clear()
        run.shown.clear()
        if run.core.end_reason is not None:
            out.append(json.dumps({"end": run.core.end_reason}))
        if run.core.lost is not None:
            lost = run.core.lost
            out.append(json.dumps({"lost": {"cause": lost.cause, "detail": lost.detail}}))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(draft(Path(sys.argv[1])))

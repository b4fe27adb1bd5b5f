"""A realtime session's end met without reopening after a drop: the planned rotation
at a turn boundary (it waits for the answer to end), the cap without reconnect (the
server's words end the conversation), and WebRTC, which ends, saying how to keep going.
Loopback sockets against the emulator.
"""

from __future__ import annotations

import base64

from realtalk.conversation import Closed, Realtime, Reconnected, Reconnecting, Started
from realtalk.protocol import AudioOut

from ._reconnect_support import (
    FAST_RETRIES,
    TIMEOUT,
    EmulatorFactory,
    Factory,
    _answer,
    _ask,
    _errors,
    _is,
    _turn_done,
)
from ._webrtc_support import start_params, webrtc_settings
from .conftest import make_settings

# -- rotation before the cap ----------------------------------------------------------


async def test_rotation_waits_for_the_end_of_the_answer(
    emulator_factory: EmulatorFactory, manager_factory: Factory
) -> None:
    emu = await emulator_factory(audio_realtime=True)  # the answer is spoken in real time
    settings = make_settings(emu.base_url, rotate_after_s=0.3, **FAST_RETRIES)
    mgr, rec = manager_factory(settings)
    await mgr.start()
    await rec.wait_for(_is(Started))
    # ~0.6 s spoken as a tone, ~3 s by espeak-ng: within the 5 s deadline either way.
    await _ask(mgr, "please tell me a story about a cat")  # well before 0.3 s
    reconnecting = await rec.wait_for(_is(Reconnecting), TIMEOUT)
    assert isinstance(reconnecting, Reconnecting) and reconnecting.cause == "rotation"
    # Not mid-sentence: the answer was whole, its turn over, before the rotation...
    before = rec.events[: rec.events.index(reconnecting)]
    assert any(_answer("please tell me a story about a cat")(e) for e in before)
    assert _turn_done(before[-1])
    # ...and it was still being spoken when the renewal became due (0.3 s): it waited.
    audio_ms = sum(
        len(base64.b64decode(e.payload.frame.data)) / 48
        for e in before
        if isinstance(e, Realtime) and isinstance(e.payload, AudioOut)
    )
    assert audio_ms >= 500
    first = emu.sessions[0]
    await first.wait_closed()
    assert "response.cancel" not in first.received_types
    assert first.sent_types[-1] == "response.done"
    await rec.wait_for(_is(Reconnected), TIMEOUT)
    await emu.wait_for_sessions(2)
    assert not any(m["type"] == "response.create" for m in emu.sessions[1].received)


# -- the cap without reconnect ---------------------------------------------------------


async def test_without_reconnect_the_cap_ends_the_conversation_with_the_servers_words(
    emulator_factory: EmulatorFactory, manager_factory: Factory
) -> None:
    emu = await emulator_factory(max_session_s=0.3)
    mgr, rec = manager_factory(make_settings(emu.base_url, reconnect_max_retries=0))
    await mgr.start()
    assert await rec.wait_for(_is(Closed), TIMEOUT) == Closed("error")
    assert _errors(rec) == ["Your session hit the maximum duration of 0.3 seconds."]


# -- WebRTC ---------------------------------------------------------------------------


async def test_webrtc_ends_at_the_cap_and_says_how_to_keep_going(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str
) -> None:
    emu = await emulator_factory(max_session_s=0.5)
    mgr, rec = manager_factory(webrtc_settings(emu.base_url))
    await mgr.start(start_params(offer))
    closed = await rec.wait_for(_is(Closed), TIMEOUT)
    assert closed == Closed("error")
    [message] = _errors(rec)
    assert message.startswith("the realtime call ended: the server ended the session at its")
    assert "Your session hit the maximum duration of 0.5 seconds." in message
    assert "--transport websocket" in message
    assert rec.of_type(Reconnecting) == []
    await emu.wait_for_calls(1)
    assert emu.calls[0].call_id is not None


async def test_webrtc_sideband_closed_by_the_server_ends_with_the_reason(
    emulator_factory: EmulatorFactory, manager_factory: Factory, offer: str
) -> None:
    emu = await emulator_factory()
    mgr, rec = manager_factory(webrtc_settings(emu.base_url))
    await mgr.start(start_params(offer))
    await emu.wait_for_sessions(1)
    await emu.sessions[0].wait_for_type("session.update")  # joined
    await emu.sessions[0].close(1000)
    closed = await rec.wait_for(_is(Closed), TIMEOUT)
    assert closed == Closed("transport_closed"), _errors(rec)
    [message] = _errors(rec)
    assert message.startswith("the realtime call ended: the server closed the connection")
    assert "--transport websocket" in message

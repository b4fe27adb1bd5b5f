"""A conversation outlives its realtime session: loopback sockets against the emulator.

The session cap (the emulator's ``max_session_s``: session_expired then close 1001), a
socket dropped mid-answer (a TCP relay aborts it: no close frame), a drop while the
agent works, retries exhausted, a server that drops every new session, and a close
during a reconnect.

The rotation, the cap without reconnect and WebRTC are test_session_end.py's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from realtalk import ConversationNotRunningError
from realtalk.conversation import Closed, Realtime, Reconnected, Reconnecting, Started, StartParams
from realtalk.emulator import Emulator
from realtalk.protocol import AudioOut, SessionUpdated, Version

from ._proxy import FaultProxy
from ._reconnect_support import (
    FAST_RETRIES,
    TIMEOUT,
    EmulatorFactory,
    Factory,
    _after,
    _answer,
    _ask,
    _errors,
    _is,
    _items,
    _turn_done,
)
from .conftest import make_settings
from .test_handoff_conversation import ScriptedAgent


@pytest.fixture
async def proxy_factory() -> AsyncIterator[Callable[[Emulator], Awaitable[FaultProxy]]]:
    proxies: list[FaultProxy] = []

    async def make(emulator: Emulator) -> FaultProxy:
        proxy = FaultProxy(emulator.port)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.aclose()


# -- the session cap ------------------------------------------------------------------


@pytest.mark.parametrize("version", list(Version))
async def test_the_session_cap_is_survived_with_the_history_restored(
    emulator_factory: EmulatorFactory, manager_factory: Factory, version: Version
) -> None:
    emu = await emulator_factory(max_session_s=1.5)
    mgr, rec = manager_factory(make_settings(emu.base_url, version=version, **FAST_RETRIES))
    await mgr.start()
    await rec.wait_for(_is(Started))
    await _ask(mgr, "my name is Ada")
    await rec.wait_for(_answer("You said: my name is Ada"), TIMEOUT)

    reconnecting = await rec.wait_for(_is(Reconnecting), TIMEOUT)
    assert reconnecting == Reconnecting(
        "session_expired", "Your session hit the maximum duration of 1.5 seconds."
    )
    reconnected = await rec.wait_for(_is(Reconnected), TIMEOUT)
    assert isinstance(reconnected, Reconnected)
    assert (reconnected.cause, reconnected.attempts, reconnected.restored_items) == (
        "session_expired",
        1,
        2,
    )
    # The new session got the history, with the same session settings first.
    await emu.wait_for_sessions(2)
    second = emu.sessions[1]
    await second.wait_for_count(3)
    assert second.received[0] == emu.sessions[0].received[0]  # the same session.update
    assert second.path_qs == emu.sessions[0].path_qs
    user = "[USER] " if version is Version.V2 else ""
    assert _items(second) == [
        ("realtalk_restore_1", f"{user}my name is Ada"),
        ("realtalk_restore_2", "You said: my name is Ada"),
    ]
    # ...and the model of the new session answers from it.
    await _ask(mgr, "what did I say before?")
    await rec.wait_for(_answer('Before this you said: "my name is Ada".'), TIMEOUT)
    assert _errors(rec) == [] and rec.of_type(Closed) == [] and mgr.running
    assert len(rec.of_type(Started)) == 1  # one conversation: no second Started


async def test_history_beyond_the_budget_is_folded_into_the_instructions(
    emulator_factory: EmulatorFactory, manager_factory: Factory
) -> None:
    emu = await emulator_factory()
    mgr, rec = manager_factory(make_settings(emu.base_url, **FAST_RETRIES))
    await mgr.start(StartParams(prompt="Be brief."))
    await rec.wait_for(_is(Started))
    said = [f"message {n:02d} " + "x" * 989 for n in range(15)]  # 1,000 characters each
    for text in said:
        await mgr.text_in(text)
    await emu.sessions[0].wait_for_count(1 + 15)
    await emu.sessions[0].close(1001)
    reconnected = await rec.wait_for(_is(Reconnected), TIMEOUT)
    assert isinstance(reconnected, Reconnected)
    # 12,000 characters are replayed: the newest 12 messages; the 3 older ones are folded.
    assert (reconnected.restored_items, reconnected.folded_items) == (12, 3)
    second = emu.sessions[1]
    await second.wait_for_count(1 + 12)
    assert [text for _, text in _items(second)] == [f"[USER] {t}" for t in said[3:]]
    instructions = second.received[0]["session"]["instructions"]
    assert instructions.startswith("Be brief.\n\nThis conversation continues in a new session")
    digest = instructions.splitlines()[-3:]
    assert [line[:18] for line in digest] == [f"- user: message {n:02d}" for n in range(3)]
    assert all(len(line) <= len("- user: ") + 200 for line in digest)


# -- dropped sockets ------------------------------------------------------------------


async def test_a_drop_mid_answer_reopens_and_the_question_is_answered(
    emulator_factory: EmulatorFactory, manager_factory: Factory, proxy_factory: Any
) -> None:
    emu = await emulator_factory(audio_realtime=True)  # answers take real time
    proxy = await proxy_factory(emu)
    mgr, rec = manager_factory(make_settings(proxy.base_url, **FAST_RETRIES))
    await mgr.start()
    await rec.wait_for(_is(Started))
    await _ask(mgr, "tell me about the weather")
    await rec.wait_for(lambda e: isinstance(e, Realtime) and isinstance(e.payload, AudioOut))
    dropped = time.monotonic()
    proxy.cut()  # no close frame: the read fails

    reconnecting = await rec.wait_for(_is(Reconnecting), TIMEOUT)
    assert isinstance(reconnecting, Reconnecting) and reconnecting.cause in ("closed", "read_error")
    await rec.wait_for(_is(Reconnected), TIMEOUT)
    await rec.wait_for(
        lambda e: (
            isinstance(e, Realtime)
            and isinstance(e.payload, SessionUpdated)
            and e in _after(rec, Reconnected)
        )
    )
    reconnect_ms = (time.monotonic() - dropped) * 1000
    # The cut answer is asked for again in the new session, and the turn ends there.
    second = emu.sessions[1]
    await second.wait_for_type("response.create")
    assert _items(second) == [("realtalk_restore_1", "[USER] tell me about the weather")]
    await rec.wait_for(_answer("You said: tell me about the weather"), TIMEOUT)
    await rec.wait_for(lambda e: e in _after(rec, Reconnected) and _turn_done(e), TIMEOUT)
    assert _errors(rec) == []
    assert reconnect_ms < 5_000  # loopback: the measured figure is in the bench


async def test_text_typed_while_reconnecting_goes_to_the_new_session_after_the_history(
    emulator_factory: EmulatorFactory, manager_factory: Factory
) -> None:
    emu = await emulator_factory(handshake_latency_ms=300)  # the new session takes a while
    mgr, rec = manager_factory(make_settings(emu.base_url, **FAST_RETRIES))
    await mgr.start()
    await rec.wait_for(_is(Started), TIMEOUT)
    await mgr.text_in("first")
    await emu.wait_for_sessions(1)
    await emu.sessions[0].wait_for_type("conversation.item.create")
    await emu.sessions[0].close(1001)
    await rec.wait_for(_is(Reconnecting), TIMEOUT)
    assert rec.of_type(Reconnected) == []  # still connecting
    await _ask(mgr, "typed meanwhile")
    await rec.wait_for(_is(Reconnected), TIMEOUT)
    await rec.wait_for(_answer("You said: typed meanwhile"), TIMEOUT)
    assert _items(emu.sessions[1]) == [
        ("realtalk_restore_1", "[USER] first"),
        (None, "[USER] typed meanwhile"),
    ]


async def test_a_drop_during_a_handoff_still_delivers_the_agents_result(
    emulator_factory: EmulatorFactory, manager_factory: Factory
) -> None:
    emu = await emulator_factory()
    agent = ScriptedAgent()
    mgr, rec = manager_factory(make_settings(emu.base_url, **FAST_RETRIES), agent=agent)
    await mgr.start()
    await rec.wait_for(_is(Started))
    await _ask(mgr, "agent, count the files")
    await agent.wait_submitted(1)
    await agent.say("There are 3 files.")
    await emu.sessions[0].wait_for_message(
        lambda m: "[BACKEND] There are 3 files." in str(m.get("item"))
    )
    await emu.sessions[0].close(1001)  # the old session held the function call
    await rec.wait_for(_is(Reconnecting), TIMEOUT)
    await agent.say("Two of them are tests.")  # may arrive before the new socket is up
    await agent.finish()
    await rec.wait_for(_answer("The agent says: Two of them are tests."), TIMEOUT)
    second = emu.sessions[1]
    assert _items(second) == [
        ("realtalk_restore_1", "[USER] agent, count the files"),
        ("realtalk_restore_2", "[BACKEND] There are 3 files."),
        (None, "[BACKEND] Two of them are tests."),
    ]
    # The result comes as [BACKEND] items and a response.create: the old call is gone.
    assert "function_call_output" not in str(second.received)
    update = second.received[0]["session"]["instructions"]
    assert "still working on a task" in update
    await rec.wait_for(_turn_done, TIMEOUT)
    assert _errors(rec) == []


# -- failures -------------------------------------------------------------------------


async def test_retries_exhausted_end_the_conversation_with_a_clear_error(
    emulator_factory: EmulatorFactory, manager_factory: Factory, proxy_factory: Any
) -> None:
    emu = await emulator_factory()
    proxy = await proxy_factory(emu)
    mgr, rec = manager_factory(make_settings(proxy.base_url, **FAST_RETRIES))
    await mgr.start()
    await rec.wait_for(_is(Started))
    proxy.mode = "refuse"
    proxy.cut()
    closed = await rec.wait_for(_is(Closed), TIMEOUT)
    assert closed == Closed("error")
    [message] = _errors(rec)
    assert message.startswith("the realtime session was lost (")
    assert "could not be re-opened after 3 attempts" in message
    assert proxy.accepted == 1 + 3
    assert rec.of_type(Reconnected) == []
    assert not mgr.running
    with pytest.raises(ConversationNotRunningError):
        await mgr.text_in("late")


async def test_a_server_that_drops_every_new_session_is_not_retried_forever(
    emulator_factory: EmulatorFactory, manager_factory: Factory
) -> None:
    emu = await emulator_factory(close_after_events=2)  # session.created, session.updated
    mgr, rec = manager_factory(make_settings(emu.base_url, **FAST_RETRIES))
    await mgr.start()
    closed = await rec.wait_for(_is(Closed), TIMEOUT)
    assert closed == Closed("error")
    [message] = _errors(rec)
    assert "after 3 attempts: the new session ended after" in message
    assert len(emu.sessions) == 1 + 3


async def test_close_during_a_reconnect_leaks_no_socket_or_task(
    emulator_factory: EmulatorFactory, manager_factory: Factory, proxy_factory: Any
) -> None:
    emu = await emulator_factory()
    proxy = await proxy_factory(emu)
    mgr, rec = manager_factory(make_settings(proxy.base_url, **FAST_RETRIES))
    await mgr.start()
    await rec.wait_for(_is(Started))
    proxy.mode = "silent"  # the new session's handshake never completes
    proxy.cut()
    await rec.wait_for(_is(Reconnecting), TIMEOUT)
    await proxy.wait_held(1)
    await mgr.close()
    await rec.wait_for(_is(Closed))
    assert rec.of_type(Closed) == [Closed("requested")]
    assert await proxy.held_connections_closed()  # the half-open socket was dropped
    await mgr.aclose()
    leftover = [
        t for t in asyncio.all_tasks() if t.get_name().startswith("realtalk-") and not t.done()
    ]
    assert leftover == []
    assert rec.of_type(Reconnected) == [] and _errors(rec) == []

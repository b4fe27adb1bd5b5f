"""Fixtures: an emulator with a settable clock, and official SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI

from realtalk.emulator import Emulator, EmulatorOptions


class Clock:
    """A Unix clock the test moves by hand (client secrets expire by it)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def emulator(clock: Clock) -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorOptions(audio_realtime=False), clock=clock) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncOpenAI]:
    openai = AsyncOpenAI(
        api_key="sk-conformance",
        base_url=emulator.base_url,
        websocket_base_url=emulator.ws_base_url,
        max_retries=0,
    )
    yield openai
    await openai.close()

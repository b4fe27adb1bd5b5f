"""Fixtures: a fast-audio emulator per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtalk.emulator import Emulator, EmulatorOptions


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorOptions(audio_realtime=False)) as emu:
        yield emu


@pytest.fixture
async def realtime_emulator() -> AsyncIterator[Emulator]:
    """Output audio paced at real time (for tests that need a response to stay active)."""
    async with Emulator(EmulatorOptions(audio_realtime=True)) as emu:
        yield emu

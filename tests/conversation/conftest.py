"""Fixtures for conversation tests: an emulator on loopback and an event recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from realtalk.conversation import ConversationEvent, ConversationManager, Settings, Subscription
from realtalk.emulator import Emulator, EmulatorOptions

TIMEOUT = 5.0
T = TypeVar("T")


class Recorder:
    """Collects a manager's events; tests wait on predicates with a bounded timeout."""

    def __init__(self, sub: Subscription) -> None:
        self.events: list[ConversationEvent] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.ensure_future(self._run(sub))

    async def _run(self, sub: Subscription) -> None:
        async for event in sub:
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[ConversationEvent], bool], timeout: float = TIMEOUT
    ) -> ConversationEvent:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await self._changed.wait()

    def of_type(self, kind: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, kind)]

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorOptions(audio_realtime=False)) as emu:
        await emu.start()
        yield emu


def make_settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": "sk-test-key",
        "base_url": base_url,
        "startup_context": "",
        "transport": "websocket",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def manager_factory() -> AsyncIterator[Callable[..., tuple[ConversationManager, Recorder]]]:
    created: list[tuple[ConversationManager, Recorder]] = []

    def make(settings: Settings, **kwargs: Any) -> tuple[ConversationManager, Recorder]:
        mgr = ConversationManager(settings, **kwargs)
        rec = Recorder(mgr.subscribe())
        created.append((mgr, rec))
        return mgr, rec

    yield make
    for mgr, rec in created:
        await mgr.aclose()
        await rec.aclose()

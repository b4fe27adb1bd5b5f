"""The first audio or text of each answer reaches the application before the reader
parses the rest of the burst the socket holds (the latency a person hears first)."""

from __future__ import annotations

import asyncio

from realtalk.conversation import Realtime, Started, StartParams, WebSocketTransport
from realtalk.emulator import Emulator
from realtalk.protocol import AudioOut, OutputTranscriptDelta, TurnDone

from ._ws_support import Factory
from .conftest import TIMEOUT, make_settings


async def test_first_output_of_each_answer_is_delivered_before_the_rest_of_its_burst(
    emulator: Emulator, manager_factory: Factory
) -> None:
    # The emulator answers with fast audio: each write carries ten audio deltas, which
    # the reader would otherwise parse and queue before the application saw the first.
    mgr, _rec = manager_factory(make_settings(emulator.base_url))
    sub = mgr.subscribe()
    await mgr.start(StartParams(transport=WebSocketTransport()))
    waiting_behind_first: list[int] = []
    answers = 0
    async with asyncio.timeout(TIMEOUT):
        async for event in sub:
            if isinstance(event, Started):
                break
        for _ in range(3):
            await mgr.text_in("tell me something")
            await mgr.request_response()
            first = True
            async for event in sub:
                if not isinstance(event, Realtime):
                    continue
                payload = event.payload
                if first and isinstance(payload, AudioOut | OutputTranscriptDelta):
                    first = False
                    waiting_behind_first.append(len(sub))
                elif isinstance(payload, AudioOut):
                    answers += 1
                elif isinstance(payload, TurnDone):
                    break
    assert answers > 30  # each answer's audio came as a burst, not one delta at a time
    assert waiting_behind_first == [0, 0, 0]

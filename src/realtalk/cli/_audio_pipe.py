"""Microphone audio to an app-server without a round trip per 20 ms frame.

``thread/realtime/appendAudio`` is a request; awaiting each answer before sending the
next frame caps the microphone at one frame per round trip, so any link slower than
20 ms would drop audio. :class:`AudioPipe` keeps up to ``window`` requests in flight
(the app-server handles a thread's requests in order, so frames stay in order) and
reports a failed request on the next send.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Final

from realtalk._errors import RealtalkError
from realtalk.app_server import Client, RealtimeAudioChunk
from realtalk.transports import PCM24K_RATE

__all__ = ["DEFAULT_WINDOW", "AudioPipe"]

DEFAULT_WINDOW: Final = 25
"""Frames in flight: 25 x 20 ms = 0.5 s of audio before a send waits."""


class AudioPipe:
    """Pipelined ``appendAudio`` for one thread; owns its request tasks until ``aclose``."""

    def __init__(self, client: Client, thread_id: str, *, window: int = DEFAULT_WINDOW) -> None:
        self._client = client
        self._thread_id = thread_id
        self._slots = asyncio.Semaphore(window)
        self._inflight: set[asyncio.Task[None]] = set()
        self._error: RealtalkError | None = None

    async def send(self, pcm: bytes) -> None:
        """Queue one pcm24k frame; waits only while ``window`` frames are unanswered.

        Raises:
            RealtalkError: an earlier frame was refused, or the connection is gone.
        """
        if self._error is not None:
            raise self._error
        await self._slots.acquire()
        audio = RealtimeAudioChunk(
            data=base64.b64encode(pcm).decode("ascii"),
            sample_rate=PCM24K_RATE,
            num_channels=1,
            samples_per_channel=len(pcm) // 2,
        )
        task = asyncio.ensure_future(self._append(audio))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _append(self, audio: RealtimeAudioChunk) -> None:
        try:
            await self._client.append_audio(self._thread_id, audio)
        except RealtalkError as exc:
            self._fail(exc)
        except Exception as exc:  # e.g. an answer that does not decode: still a failure
            self._fail(RealtalkError(f"appendAudio failed: {exc}"))
        finally:
            self._slots.release()

    def _fail(self, error: RealtalkError) -> None:
        if self._error is None:
            self._error = error

    async def drain(self) -> None:
        """Wait until every frame sent so far is answered.

        Raises:
            RealtalkError: a frame was refused, or the connection is gone.
        """
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._error is not None:
            raise self._error

    async def aclose(self) -> None:
        """Stop waiting for answers (the talk is over; unsent frames are dropped)."""
        tasks = list(self._inflight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""Writes one scripted response as server events (v1 and v2), with real-time pacing.

Cancellation is cooperative: :meth:`ActiveResponse.cancel` sets a flag that the
writer checks before every event and that wakes its pacing wait, so a response is
never cut in the middle of an event and always ends with exactly one
``response.done`` (``completed`` or ``cancelled``). The GA API has no
``response.cancelled`` event, so a cancelled response is a ``response.done`` with
``status: "cancelled"`` and ``status_details.reason`` (``turn_detected`` for
barge-in, ``client_cancelled`` for ``response.cancel``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from realtalk.emulator._audio import CHUNK_BYTES, CHUNK_MS
from realtalk.emulator._script import split_words
from realtalk.emulator._tts import SpeechSynthesizer
from realtalk.emulator._voice import Tone, Voice, speech_chunk_count, split_chunks, voice_for
from realtalk.emulator._wire import (
    IdFactory,
    assistant_item,
    function_call_item,
    response_object,
)

__all__ = [
    "ActiveResponse",
    "AudioSink",
    "Emit",
    "ResponseWriter",
    "speech_chunk_count",
    "split_chunks",
]

JsonDict = dict[str, Any]
Emit = Callable[[JsonDict], Awaitable[None]]
AudioSink = Callable[[bytes], Awaitable[None]]

# Real-time pacing sends this much audio ahead of its play time, so a paced consumer
# (the WebRTC track) never runs dry between two timer wake-ups.
_LEAD_CHUNKS: Final = 3  # 60 ms
# Fast audio yields to the event loop every so many chunks (not every chunk): the
# events of one loop turn go out in one write (see _connection), so a client can be
# fed faster than it reads, and a cancel still gets in within ~0.2 s of audio.
_FAST_CHUNKS_PER_TURN: Final = 10


class _Cancelled(Exception):
    """Internal: the response was cancelled between two events."""


class ActiveResponse:
    """State of the response being written; shared with the model for cancellation."""

    def __init__(
        self, response_id: str, *, modalities: list[str], voice: str, metadata: JsonDict | None
    ) -> None:
        self.response_id = response_id
        self.modalities = modalities
        self.voice = voice
        self.metadata = metadata
        self.item: JsonDict | None = None
        self.audio_started = False  # output_audio_buffer.started sent (WebRTC audio sink)
        self.cancel_reason: str | None = None
        self._wake = asyncio.Event()

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
            self._wake.set()

    def check(self) -> None:
        if self.cancel_reason is not None:
            raise _Cancelled

    async def pause(self, seconds: float) -> None:
        """Sleep for pacing, waking early on cancellation."""
        if seconds <= 0:
            await asyncio.sleep(0)  # let the reader run between chunks in fast mode
        else:
            try:
                async with asyncio.timeout(seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
        self.check()


class ResponseWriter:
    """Emits the event sequence of one response."""

    def __init__(
        self,
        emit: Emit,
        ids: IdFactory,
        *,
        v1: bool,
        realtime: bool,
        audio_sink: AudioSink | None = None,
        synthesizer: SpeechSynthesizer | None = None,
    ) -> None:
        self._emit = emit
        self._synthesizer = synthesizer
        self._ids = ids
        self._v1 = v1
        self._realtime = realtime
        self._audio_sink = audio_sink

    async def _send(self, resp: ActiveResponse, event: JsonDict) -> None:
        resp.check()
        await self._emit(event)

    def _response(self, resp: ActiveResponse, status: str, **extra: Any) -> JsonDict:
        output = [resp.item] if resp.item is not None else []
        return response_object(
            resp.response_id,
            status=status,
            modalities=resp.modalities,
            voice=resp.voice,
            output=output,
            metadata=resp.metadata,
            **extra,
        )

    async def speak(self, resp: ActiveResponse, text: str) -> None:
        """Write a spoken (or, v2 ``["text"]``, written) answer; handles cancellation."""
        try:
            await self._speak(resp, text)
        except _Cancelled:
            await self._cancelled_tail(resp)

    async def call_tool(self, resp: ActiveResponse, name: str, arguments: str) -> None:
        """Write a v2 response holding one function call."""
        try:
            await self._call_tool(resp, name, arguments)
        except _Cancelled:
            await self._cancelled_tail(resp)

    async def _cancelled_tail(self, resp: ActiveResponse) -> None:
        if resp.item is not None:
            resp.item = {**resp.item, "status": "incomplete"}
            if not self._v1:
                await self._emit(self._output_item_event(resp, "response.output_item.done"))
            await self._emit({"type": "conversation.item.done", "item": resp.item})
        if resp.audio_started:
            await self._emit(
                {"type": "output_audio_buffer.cleared", "response_id": resp.response_id}
            )
        details = {"type": "cancelled", "reason": resp.cancel_reason}
        await self._emit(
            {
                "type": "response.done",
                "response": self._response(resp, "cancelled", status_details=details),
            }
        )

    def _output_item_event(self, resp: ActiveResponse, event_type: str) -> JsonDict:
        return {
            "type": event_type,
            "response_id": resp.response_id,
            "output_index": 0,
            "item": resp.item,
        }

    def _part_fields(self, resp: ActiveResponse, item_id: str) -> JsonDict:
        return {
            "response_id": resp.response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }

    async def _speak(self, resp: ActiveResponse, text: str) -> None:
        v1 = self._v1
        text_only = not v1 and resp.modalities == ["text"]
        item_id = self._ids.next("item")
        await self._send(
            resp, {"type": "response.created", "response": self._response(resp, "in_progress")}
        )
        resp.item = assistant_item(item_id, status="in_progress", content=[])
        if not v1:
            await self._send(resp, self._output_item_event(resp, "response.output_item.added"))
        await self._send(resp, {"type": "conversation.item.added", "item": resp.item})
        fields = self._part_fields(resp, item_id)
        part_type = "text" if text_only else "audio"
        if not v1:
            start_part = {"type": part_type, "text" if text_only else "transcript": ""}
            await self._send(
                resp, {"type": "response.content_part.added", **fields, "part": start_part}
            )
        words = split_words(text)
        if text_only:
            for word in words:
                await self._send(
                    resp, {"type": "response.output_text.delta", **fields, "delta": word}
                )
                await resp.pause(0)
            await self._send(resp, {"type": "response.output_text.done", **fields, "text": text})
            done_part: JsonDict = {"type": "text", "text": text}
            content: JsonDict = {"type": "output_text", "text": text}
        else:
            await self._stream_audio(resp, fields, words, await self._voice(resp, text))
            done_type = "response.output_audio_transcript.done"
            if v1:
                await self._send(resp, {"type": done_type, "item_id": item_id, "transcript": text})
            else:
                await self._send(resp, {"type": done_type, **fields, "transcript": text})
            done_part = {"type": "audio", "transcript": text}
            content = {"type": "output_audio", "transcript": text}
        if not v1:
            await self._send(
                resp, {"type": "response.content_part.done", **fields, "part": done_part}
            )
        resp.item = assistant_item(item_id, status="completed", content=[content])
        if not v1:
            await self._send(resp, self._output_item_event(resp, "response.output_item.done"))
        await self._send(resp, {"type": "conversation.item.done", "item": resp.item})
        done = self._response(resp, "completed", output_tokens=len(words))
        await self._send(resp, {"type": "response.done", "response": done})
        if resp.audio_started:
            await self._emit(
                {"type": "output_audio_buffer.stopped", "response_id": resp.response_id}
            )

    async def _voice(self, resp: ActiveResponse, text: str) -> Voice:
        """The answer's audio: speech when a TTS is installed, else the tone."""
        pcm = None
        if self._synthesizer is not None:
            pcm = await self._synthesizer.synthesize(text, resp.voice)
            resp.check()
        if pcm:
            return voice_for(text, resp.voice, pcm)
        return Tone(speech_chunk_count(text))

    async def _stream_audio(
        self, resp: ActiveResponse, fields: JsonDict, words: list[str], voice: Voice
    ) -> None:
        loop = asyncio.get_running_loop()
        if self._audio_sink is not None:
            await self._send(
                resp, {"type": "output_audio_buffer.started", "response_id": resp.response_id}
            )
            resp.audio_started = True
        # Spread the transcript pieces evenly over the audio chunks.
        count = voice.count
        words_at: list[list[str]] = [[] for _ in range(count)]
        for i, word in enumerate(words):
            words_at[i * count // len(words)].append(word)
        sink = self._audio_sink is not None
        chunks = voice.chunks if sink else [b""] * count
        deltas = [""] * count if sink else voice.deltas
        start = loop.time() - _LEAD_CHUNKS * CHUNK_MS / 1000
        for index, chunk in enumerate(chunks):
            if self._realtime:
                await resp.pause(start + index * CHUNK_MS / 1000 - loop.time())
            elif index % _FAST_CHUNKS_PER_TURN == 0:
                await resp.pause(0)  # lets the reader in (a cancel, a barge-in)
            else:
                resp.check()
            await self._audio_chunk(resp, fields, chunk, deltas[index])
            for word in words_at[index]:
                if self._v1:
                    event: JsonDict = {
                        "type": "conversation.output_transcript.delta",
                        "delta": word,
                    }
                else:
                    event = {
                        "type": "response.output_audio_transcript.delta",
                        **fields,
                        "delta": word,
                    }
                await self._send(resp, event)
        if self._audio_sink is None and not self._v1:
            await self._send(resp, {"type": "response.output_audio.done", **fields})

    async def _audio_chunk(
        self, resp: ActiveResponse, fields: JsonDict, chunk: bytes, delta: str
    ) -> None:
        if self._audio_sink is not None:
            resp.check()
            await self._audio_sink(chunk)
            return
        if self._v1:
            await self._send(
                resp,
                {
                    "type": "conversation.output_audio.delta",
                    "delta": delta,
                    "sample_rate": 24000,
                    "channels": 1,
                    "samples_per_channel": CHUNK_BYTES // 2,
                },
            )
        else:
            await self._send(
                resp, {"type": "response.output_audio.delta", **fields, "delta": delta}
            )

    async def _call_tool(self, resp: ActiveResponse, name: str, arguments: str) -> None:
        item_id = self._ids.next("item")
        call_id = self._ids.next("call")
        await self._send(
            resp, {"type": "response.created", "response": self._response(resp, "in_progress")}
        )
        resp.item = function_call_item(
            item_id, call_id=call_id, name=name, arguments="", status="in_progress"
        )
        await self._send(resp, self._output_item_event(resp, "response.output_item.added"))
        await self._send(resp, {"type": "conversation.item.added", "item": resp.item})
        call_fields = {
            "response_id": resp.response_id,
            "item_id": item_id,
            "output_index": 0,
            "call_id": call_id,
        }
        await self._send(
            resp,
            {"type": "response.function_call_arguments.delta", **call_fields, "delta": arguments},
        )
        await self._send(
            resp,
            {
                "type": "response.function_call_arguments.done",
                **call_fields,
                "name": name,
                "arguments": arguments,
            },
        )
        resp.item = function_call_item(
            item_id, call_id=call_id, name=name, arguments=arguments, status="completed"
        )
        await self._send(resp, self._output_item_event(resp, "response.output_item.done"))
        await self._send(resp, {"type": "conversation.item.done", "item": resp.item})
        await self._send(
            resp, {"type": "response.done", "response": self._response(resp, "completed")}
        )

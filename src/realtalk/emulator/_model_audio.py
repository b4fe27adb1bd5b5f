"""The scripted realtime model's input audio: appends, VAD turns, commits (a mixin).

Part of :class:`realtalk.emulator._model.ScriptedModel`, which owns every attribute
named here; VAD is :mod:`realtalk.emulator._audio`, the buffer and its items
:mod:`realtalk.emulator._inputs`.
"""

from __future__ import annotations

import abc
import base64
import binascii
from typing import Any

from realtalk.emulator._asr import SpeechRecognizer
from realtalk.emulator._audio import BYTES_PER_MS, VadAction
from realtalk.emulator._conversation import Conversation
from realtalk.emulator._inputs import InputBuffer
from realtalk.emulator._responder import Responder
from realtalk.emulator._wire import SessionMode, SessionVersion, echo_audio_event

__all__ = ["AudioTurns"]

JsonDict = dict[str, Any]


class AudioTurns(abc.ABC):
    """Input audio handling of the scripted model (see the module docstring).

    The abstract methods are what it needs of its host, :class:`ScriptedModel`.
    """

    version: SessionVersion
    mode: SessionMode
    _closed: bool
    _echo: bool
    _inputs: InputBuffer
    _recognizer: SpeechRecognizer
    _conversation: Conversation
    _responder: Responder

    @abc.abstractmethod
    async def _emit(self, event: JsonDict) -> None: ...

    @abc.abstractmethod
    async def _error(
        self,
        message: str,
        *,
        code: str | None,
        param: str | None,
        event: JsonDict,
        error_type: str = "invalid_request_error",
    ) -> None: ...

    @abc.abstractmethod
    def _turn_detection(self) -> JsonDict | None: ...

    @abc.abstractmethod
    def _detection_flag(self, name: str) -> bool: ...

    @abc.abstractmethod
    async def _respond(self, event: JsonDict) -> None: ...

    async def feed_input_audio(self, pcm: bytes) -> None:
        """Raw PCM16 24 kHz mono input (e.g. a WebRTC track), same path as ``append``."""
        if not self._closed:
            await self._ingest(pcm)

    async def _on_append(self, event: JsonDict) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            await self._error(
                "Missing required parameter: 'audio'.",
                code="missing_required_parameter",
                param="audio",
                event=event,
            )
            return
        if self._echo:
            await self._emit(echo_audio_event(audio, v1=self.version == "v1"))
            return
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            await self._error(
                "Invalid 'audio'. Expected base64-encoded audio bytes.",
                code="invalid_value",
                param="audio",
                event=event,
            )
            return
        await self._ingest(pcm)

    async def _ingest(self, pcm: bytes) -> None:
        vad_on = self._turn_detection() is not None
        for update in self._inputs.append(pcm, vad=vad_on):
            if update.action is VadAction.SPEECH_STARTED:
                if self._inputs.wants_recognition:
                    self._recognizer.prepare()  # load the model while the person speaks
                await self._emit(self._inputs.speech_started_event(update.at_ms))
                if self._responder.active is not None and self._detection_flag(
                    "interrupt_response"
                ):
                    await self._responder.cancel("turn_detected")
            elif update.action is VadAction.SPEECH_STOPPED:
                await self._emit(self._inputs.speech_stopped_event(update.at_ms))
                await self._commit(auto_response=self._detection_flag("create_response"))

    async def _on_commit(self, event: JsonDict) -> None:
        buffered_ms = self._inputs.buffered_bytes // BYTES_PER_MS
        if buffered_ms < 100:
            await self._error(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
                param=None,
                event=event,
            )
            return
        await self._commit(auto_response=False)

    async def _on_clear(self, event: JsonDict) -> None:
        self._inputs.clear()
        await self._emit({"type": "input_audio_buffer.cleared"})

    async def _commit(self, *, auto_response: bool) -> None:
        heard = None
        if self._inputs.wants_recognition:  # off the event loop, on the recognizer's thread
            heard = await self._recognizer.recognize(self._inputs.audio)
        previous = self._conversation.last_item_id()
        events, item, transcript = self._inputs.commit(
            previous, v1=self.version == "v1", heard=heard
        )
        conversational = self.mode == "conversational"
        self._conversation.add_audio_item(item, transcript, track_input=conversational)
        for event in events:
            await self._emit(event)
        if conversational and auto_response and self._responder.active is None:
            await self._respond(event={})

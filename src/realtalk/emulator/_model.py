"""The scripted realtime model: a transport-independent engine on plain dicts.

A transport feeds client events to :meth:`ScriptedModel.handle_client_event` (or raw
PCM to :meth:`ScriptedModel.feed_input_audio`, e.g. from a WebRTC track) and
registers one or more event sinks (:meth:`add_sink`); a WebRTC call can pass an
``audio_sink`` so output audio goes to its track instead of
``response.output_audio.delta`` events. What the model answers is defined in
:mod:`realtalk.emulator._script`, VAD in :mod:`realtalk.emulator._audio`, response
event sequences and barge-in in :mod:`realtalk.emulator._speech`.

Behaviour summary:

* v2 sends ``session.created`` on :meth:`start`; every ``session.update`` gets a
  ``session.updated`` with the merged session (``session.type`` ``transcription``
  switches to transcription mode: transcripts only, ``response.create`` is an error).
* ``conversation.item.create`` is acked with ``conversation.item.added`` + ``.done``
  (the client's item id is kept). Responses start on ``response.create``, after a
  server-VAD turn when ``turn_detection.create_response`` (default true; v1 always),
  on v1 ``conversation.handoff.append``, and — only with ``auto_respond_to_text`` —
  after each user text item.
* A ``response.create`` during a response → ``error``
  ``conversation_already_has_active_response``; the socket stays open.
* Speech start during a response cancels it when ``interrupt_response`` (default
  true; v1 always). ``response.cancel`` cancels too.
* Unknown client event types → ``error`` (``invalid_request_error``); the socket
  stays open.
* ``echo_audio``: each ``input_audio_buffer.append`` is answered with one output
  audio delta carrying the same audio; no VAD.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from realtalk.emulator._asr import SpeechRecognizer, shared_recognizer
from realtalk.emulator._conversation import Conversation, ItemError
from realtalk.emulator._inputs import InputBuffer
from realtalk.emulator._model_audio import AudioTurns
from realtalk.emulator._responder import Responder
from realtalk.emulator._script import (
    InputKind,
    PlanKind,
    declared_tools,
    plan_response,
)
from realtalk.emulator._speech import ActiveResponse, AudioSink, ResponseWriter
from realtalk.emulator._tts import SpeechSynthesizer, shared_synthesizer
from realtalk.emulator._wire import (
    IdFactory,
    SessionMode,
    SessionVersion,
    apply_session_update,
    default_session,
    error_event,
    turn_detection,
)

__all__ = ["EventSink", "ScriptedModel"]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
EventSink = Callable[[JsonDict], Awaitable[None]]
_ACTIVE_RESPONSE_MESSAGE: Final = (
    "Conversation already has an active response in progress: {rid}. "
    "Wait until the response is finished before creating a new one."
)


class ScriptedModel(AudioTurns):
    """Deterministic fake realtime model (see the module docstring for the rules)."""

    def __init__(
        self,
        *,
        version: SessionVersion = "v2",
        mode: SessionMode = "conversational",
        model: str | None = None,
        realtime_audio: bool = True,
        echo_audio: bool = False,
        speech_transcripts: tuple[str, ...] = (),
        auto_respond_to_text: bool = False,
        audio_sink: AudioSink | None = None,
        synthesizer: SpeechSynthesizer | None = None,
        recognizer: SpeechRecognizer | None = None,
    ) -> None:
        self.version: SessionVersion = version
        self.mode: SessionMode = "conversational" if version == "v1" else mode
        self._ids = IdFactory()
        self.session_id = self._ids.next("sess")
        self._model_name = model
        self._session: JsonDict = default_session(
            version=version, mode=self.mode, session_id=self.session_id, model=model
        )
        self._echo = echo_audio
        self._auto_text = auto_respond_to_text
        self._sinks: list[EventSink] = []
        writer = ResponseWriter(
            self._emit,
            self._ids,
            v1=version == "v1",
            realtime=realtime_audio,
            audio_sink=audio_sink,
            synthesizer=synthesizer if synthesizer is not None else shared_synthesizer(),
        )
        self._inputs = InputBuffer(self._ids, transcripts=speech_transcripts)
        self._recognizer = recognizer if recognizer is not None else shared_recognizer()
        self._conversation = Conversation(self._ids)
        self._responder = Responder(writer, self._new_response, self._conversation.handoff_called)
        self._closed = False
        self._handlers: dict[str, Callable[[JsonDict], Awaitable[None]]] = {
            "session.update": self._on_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.truncate": self._on_truncate,
            "conversation.item.delete": self._on_delete,
            "conversation.item.retrieve": self._on_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_output_clear,
        }
        if version == "v1":
            self._handlers["conversation.handoff.append"] = self._on_handoff_append

    # ----------------------------------------------------------------- plumbing

    @property
    def session(self) -> JsonDict:
        """The current session object (as last sent in ``session.updated``)."""
        return self._session

    @property
    def active_response_id(self) -> str | None:
        return self._responder.active.response_id if self._responder.active is not None else None

    def add_sink(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: EventSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    async def _emit(self, event: JsonDict) -> None:
        event["event_id"] = self._ids.next("event")
        if event.get("type") == "conversation.item.done" and isinstance(event.get("item"), dict):
            self._conversation.remember(event["item"])
        for sink in tuple(self._sinks):
            await sink(event)

    async def _error(
        self,
        message: str,
        *,
        code: str | None,
        param: str | None,
        event: JsonDict,
        error_type: str = "invalid_request_error",
    ) -> None:
        client_id = event.get("event_id")
        await self._emit(
            error_event(
                message,
                error_type=error_type,
                code=code,
                param=param,
                client_event_id=client_id if isinstance(client_id, str) else None,
            )
        )

    async def start(self) -> None:
        """Send the greeting events (v2: ``session.created``)."""
        if self.version == "v2":
            await self._emit({"type": "session.created", "session": self._session})

    async def aclose(self) -> None:
        """Stop any running response; idempotent."""
        self._closed = True
        await self._responder.aclose()

    async def handle_client_event(self, event: JsonDict) -> None:
        """Process one decoded client event (a JSON object)."""
        if self._closed:
            return
        event_type = event.get("type")
        handler = self._handlers.get(event_type) if isinstance(event_type, str) else None
        if handler is None:
            supported = ", ".join(f"'{name}'" for name in self._handlers)
            await self._error(
                f"Invalid value: '{event_type}'. Supported values are: {supported}.",
                code="invalid_value",
                param="type",
                event=event,
            )
            return
        try:
            await handler(event)
        except Exception:
            # A bug must cost the client one request, not the whole socket or call.
            logger.exception("emulator failed to handle a client event", extra={"type": event_type})
            await self._error(
                "The server had an error while processing your request.",
                code=None,
                param=None,
                event=event,
                error_type="server_error",
            )

    # ------------------------------------------------------------------ session

    def _turn_detection(self) -> JsonDict | None:
        return turn_detection(self._session, v1=self.version == "v1")

    def _detection_flag(self, name: str) -> bool:
        detection = self._turn_detection()
        return detection is not None and detection.get(name, True) is not False

    async def _on_session_update(self, event: JsonDict) -> None:
        result = apply_session_update(
            self._session, event.get("session"), version=self.version, model=self._model_name
        )
        if isinstance(result, str):
            await self._error(result, code="invalid_value", param="session", event=event)
            return
        self._session, self.mode = result
        detection = self._turn_detection()
        if detection is not None:
            silence = detection.get("silence_duration_ms")
            self._inputs.vad.silence_ms = (
                silence if isinstance(silence, int) and silence > 0 else 500
            )
        await self._emit({"type": "session.updated", "session": self._session})

    # ---------------------------------------------------------- conversation

    async def _emit_or_error(self, result: JsonDict | ItemError, event: JsonDict) -> None:
        if isinstance(result, ItemError):
            await self._error(result.message, code=result.code, param=result.param, event=event)
        else:
            await self._emit(result)

    async def _on_item_create(self, event: JsonDict) -> None:
        result = self._conversation.add_client_item(event.get("item"))
        if isinstance(result, ItemError):
            await self._emit_or_error(result, event)
            return
        for ack in result:
            await self._emit(ack)
        wants_answer = self._conversation.last_input.kind in (
            InputKind.USER_TEXT,
            InputKind.BACKEND_TEXT,
        )
        if (
            self._auto_text
            and wants_answer
            and self.mode == "conversational"
            and self._responder.active is None
        ):
            await self._respond(event={})

    async def _on_truncate(self, event: JsonDict) -> None:
        await self._emit_or_error(self._conversation.truncate(event), event)

    async def _on_delete(self, event: JsonDict) -> None:
        await self._emit_or_error(self._conversation.delete(event.get("item_id")), event)

    async def _on_retrieve(self, event: JsonDict) -> None:
        await self._emit_or_error(self._conversation.retrieve(event.get("item_id")), event)

    # --------------------------------------------------------------- responses

    async def _on_response_create(self, event: JsonDict) -> None:
        if self.mode == "transcription":
            await self._error(
                "Responses are not supported in transcription sessions.",
                code="invalid_value",
                param="type",
                event=event,
            )
            return
        if self._responder.active is not None:
            await self._error(
                _ACTIVE_RESPONSE_MESSAGE.format(rid=self._responder.active.response_id),
                code="conversation_already_has_active_response",
                param=None,
                event=event,
            )
            return
        await self._respond(event)

    async def _on_response_cancel(self, event: JsonDict) -> None:
        if not await self._responder.cancel("client_cancelled"):
            await self._error(
                "Cancellation failed: no active response found",
                code="response_cancel_not_active",
                param=None,
                event=event,
            )

    async def _on_output_clear(self, event: JsonDict) -> None:
        await self._responder.cancel("client_cancelled")

    async def _on_handoff_append(self, event: JsonDict) -> None:
        text = event.get("output_text")
        if not isinstance(text, str) or not isinstance(event.get("handoff_id"), str):
            await self._error(
                "Missing required parameters: 'handoff_id' and 'output_text'.",
                code="missing_required_parameter",
                param="output_text",
                event=event,
            )
            return
        self._responder.queue_speech(text)

    def _new_response(self, params: JsonDict) -> ActiveResponse:
        modalities = params.get("output_modalities") or self._session.get("output_modalities")
        if self.version == "v1" or not isinstance(modalities, list) or not modalities:
            modalities = ["audio"]
        audio = self._session.get("audio")
        output = audio.get("output") if isinstance(audio, dict) else None
        voice = output.get("voice") if isinstance(output, dict) else None
        metadata = params.get("metadata")
        return ActiveResponse(
            self._ids.next("resp"),
            modalities=[str(m) for m in modalities],
            voice=voice if isinstance(voice, str) else "alloy",
            metadata=metadata if isinstance(metadata, dict) else None,
        )

    async def _respond(self, event: JsonDict) -> None:
        if self._closed:  # the model closed while this handler awaited a sink
            return
        params = event.get("response")
        params = params if isinstance(params, dict) else {}
        session = self._session
        declared = declared_tools(
            params.get("tools", session.get("tools")),
            params.get("tool_choice", session.get("tool_choice", "auto")),
            instructions=params.get("instructions", session.get("instructions", "")),
        )
        conversation = self._conversation
        last = conversation.take_last_input()
        plan = plan_response(
            last,
            conversation.backend_since_handoff,
            v1=self.version == "v1",
            declared=declared,
            delegating=conversation.delegating(),
            earlier=conversation.user_texts_before(last.item_id),
            question=conversation.pending_question(),
        )
        if plan.kind is PlanKind.NOTHING:
            return
        if plan.kind is PlanKind.HANDOFF:
            await self._emit(
                {
                    "type": "conversation.handoff.requested",
                    "handoff_id": self._ids.next("handoff"),
                    "item_id": last.item_id,
                    "input_transcript": plan.text,
                }
            )
            return
        self._responder.start(params, plan)

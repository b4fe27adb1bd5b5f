"""The CLI's conversation runtime, shared by ``talk`` and ``demo``.

It resolves settings, starts the in-process emulator when there is no API key
and no base URL, builds the background agent, runs the conversation manager and
renders events. ``wait_idle`` tells when a turn (including a delegation and its
spoken result) is over, so one-shot commands know when to exit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import msgspec

from realtalk._config import Settings
from realtalk._errors import ConfigError, RealtalkError
from realtalk.agent import BackgroundAgent
from realtalk.cli._agent_build import ready_agent
from realtalk.cli._agent_tap import AgentTap, TappedAgent
from realtalk.cli._device import AudioPlayback, is_quiet
from realtalk.cli._jsonl import EventLog
from realtalk.cli._offline import OFFLINE_API_KEY, offline_notice
from realtalk.cli._outputs import SafePlayback, VirtualSpeaker, WavSink, close_outputs
from realtalk.cli._render import Renderer
from realtalk.cli._turns import TurnTracker
from realtalk.conversation import (
    ConversationEvent,
    ConversationManager,
    Realtime,
    Reconnected,
    SdpAnswer,
    Started,
    StartParams,
    Subscription,
    WebRtcTransport,
    WebSocketTransport,
)
from realtalk.emulator import Emulator, EmulatorOptions
from realtalk.protocol import (
    AudioFrame,
    AudioOut,
    ErrorEvent,
    InputAudioSpeechStarted,
)

if TYPE_CHECKING:
    from realtalk.transports import WebRtcPeer

__all__ = ["TalkRuntime", "TurnTracker"]

logger = logging.getLogger(__name__)

# Above this much unsent audio on the WebRTC track, quiet microphone blocks are skipped
# so drift between the sound card clock and the track's pacing cannot build latency.
MAX_MIC_LAG_MS = 200.0


class TalkRuntime:
    """Everything one ``talk``/``demo`` run owns; ``async with`` starts and stops it."""

    def __init__(
        self,
        settings: Settings,
        *,
        renderer: Renderer,
        offline: bool,
        events_jsonl: str | None = None,
        audio_out: str | None = None,
        fast_emulator_audio: bool = False,
        agent: BackgroundAgent | None = None,
        playback: AudioPlayback | None = None,
        agent_tap: AgentTap | None = None,
        ask_person: bool = True,
    ) -> None:
        self.settings = settings
        self.playback = playback  # e.g. the local speaker (``--speaker``)
        self._speaker = SafePlayback(playback, renderer.error) if playback is not None else None
        self.peer: WebRtcPeer | None = None
        self.renderer = renderer
        self.offline = offline
        self._events_jsonl = events_jsonl
        self._audio_out_path = audio_out
        self._fast = fast_emulator_audio
        self._agent = agent
        self._agent_tap = agent_tap  # a console sees the agent's tools at work
        self._ask_person = ask_person  # someone can answer the agent's questions
        self.emulator: Emulator | None = None
        self.manager: ConversationManager | None = None
        self.tracker = TurnTracker()
        self._log: EventLog | None = None
        self._sub: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._audio: WavSink | None = None  # --audio-out over WebRTC (the track is paced)
        self._virtual: VirtualSpeaker | None = None  # --audio-out over WebSocket
        self.started = asyncio.Event()
        self._webrtc_import: asyncio.Future[Any] | None = None

    async def __aenter__(self) -> TalkRuntime:
        try:
            await self._open()
        except BaseException as exc:
            await self._close_after(exc)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close_after(exc)

    async def _close_after(self, exc: BaseException | None) -> None:
        """aclose(); a file that failed is raised, unless a failure is already on its way."""
        try:
            await self.aclose()
        except ConfigError as close_error:
            if exc is None:
                raise
            self.renderer.error(str(close_error))

    def _preload_webrtc(self) -> None:
        """Start importing aiortc (~0.5 s) in a thread, while the emulator, the agent and
        the sandbox probe start; :meth:`_webrtc_stack` waits for it. WebSocket runs never
        import it."""
        if self.settings.transport == "webrtc" and self._webrtc_import is None:
            self._webrtc_import = asyncio.ensure_future(
                asyncio.to_thread(importlib.import_module, "realtalk.transports._webrtc")
            )

    async def _webrtc_stack(self) -> type[WebRtcPeer]:
        if self._webrtc_import is not None:
            await self._webrtc_import
        from realtalk.transports import WebRtcPeer

        return WebRtcPeer

    async def _open(self) -> None:
        settings = self.settings
        self._preload_webrtc()
        if self.offline:
            self.emulator = Emulator(EmulatorOptions(audio_realtime=not self._fast))
            base = await self.emulator.start()
            self.renderer.info(offline_notice(base))
            settings = msgspec.structs.replace(
                settings, base_url=base, realtime_ws_base_url=None, api_key=OFFLINE_API_KEY
            )
            self.settings = settings
        if self._events_jsonl:
            self._log = EventLog(self._events_jsonl)
        if self._audio_out_path:
            sink = WavSink(self._audio_out_path)
            if settings.transport == "webrtc":
                self._audio = sink
            else:
                self._virtual = VirtualSpeaker(sink)
        if settings.transport == "webrtc":
            # The local media peer: our microphone/WAV goes out on its audio track,
            # the model's audio comes back on it; the conversation is controlled
            # over the sideband WebSocket. aiortc has been loading meanwhile.
            WebRtcPeer = await self._webrtc_stack()
            self.peer = WebRtcPeer(
                loopback_only=self.offline, on_audio=self._on_peer_audio, on_event=self._on_dc_event
            )
        agent = await ready_agent(
            self._agent, settings, self.renderer.error, ask_person=self._ask_person
        )
        self._agent = agent
        # Barge-in truncates the answer where the person stopped hearing it: the speaker
        # knows, else the --audio-out virtual speaker (WebSocket only; see _outputs).
        clock = self._speaker if self._speaker is not None else self._virtual
        linked = agent if self._agent_tap is None else TappedAgent(agent, self._agent_tap)
        self.manager = ConversationManager(settings, agent=linked, tap=self._log, playback=clock)
        self._sub = self.manager.subscribe()
        self._pump = asyncio.ensure_future(self._pump_events(self._sub))

    def _on_peer_audio(self, pcm: bytes) -> None:
        if self._audio is not None:
            self._audio.write(pcm)
        if self._speaker is not None:
            self._speaker.play(pcm)

    def _on_dc_event(self, event: dict[str, Any]) -> None:
        self.renderer.data_channel(event)

    def _route_audio(self, event: Realtime) -> None:
        """Model audio to ``--audio-out`` and the speaker; barge-in cuts both."""
        payload = event.payload
        if isinstance(payload, AudioOut):
            if self._virtual is None and self._speaker is None:
                return
            pcm = base64.b64decode(payload.frame.data)
            item_id = payload.frame.item_id
            if self._virtual is not None:
                self._virtual.play(pcm, item_id)
            if self._speaker is not None:
                self._speaker.play(pcm, item_id)
        elif isinstance(payload, InputAudioSpeechStarted):
            # Barge-in: stop talking over the person (the conversation has truncated the
            # interrupted item on the server at the position they heard).
            if self._virtual is not None:
                self._virtual.interrupt()
            if self._speaker is not None:
                self._speaker.interrupt()

    async def _pump_events(self, sub: Subscription) -> None:
        """Handle every event; a failure ends the run's waits instead of hanging them."""
        async for event in sub:
            try:
                await self._handle(event)
            except Exception as exc:
                logger.exception("handling a conversation event failed")
                sub.close()  # stop reading without stalling the conversation
                reason = str(exc) or type(exc).__name__
                self.tracker.fail(f"could not handle the conversation's events: {reason}")
                return

    async def _handle(self, event: ConversationEvent) -> None:
        if isinstance(event, Started):
            self.started.set()
            logger.info(
                "realtime session started",
                extra={
                    "transport": self.settings.transport if self.peer is not None else "websocket",
                    "session_id": event.realtime_session_id,
                    "version": event.version.value,
                },
            )
        if isinstance(event, Reconnected):
            logger.info(
                "realtime session re-opened",
                extra={"cause": event.cause, "elapsed_ms": event.elapsed_ms},
            )
        if isinstance(event, SdpAnswer) and self.peer is not None:
            try:
                await self.peer.accept_answer(event.sdp)
            except RealtalkError as exc:
                self.renderer.error(f"could not apply the SDP answer: {exc}")
        if isinstance(event, Realtime):
            self._route_audio(event)
        starting_error = (
            not self.started.is_set()
            and isinstance(event, Realtime)
            and isinstance(event.payload, ErrorEvent)
        )
        if not starting_error:  # a failed start is reported once, by the caller
            self.renderer.show(event)
        self.tracker.observe(event)

    async def start(self) -> None:
        assert self.manager is not None
        if self.peer is not None:
            offer = await self.peer.create_offer()
            await self.manager.start(StartParams(transport=WebRtcTransport(offer)))
        else:
            await self.manager.start(StartParams(transport=WebSocketTransport()))
        started = asyncio.ensure_future(self.started.wait())
        closed = asyncio.ensure_future(self.tracker.errored.wait())
        try:
            await asyncio.wait({started, closed}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (started, closed):
                t.cancel()
            await asyncio.gather(started, closed, return_exceptions=True)
        if not self.started.is_set():
            message = self.tracker.errors[-1] if self.tracker.errors else "no answer from server"
            raise RealtalkError(f"could not start the conversation: {message}")

    async def say(self, text: str, *, timeout: float) -> None:
        """Send a typed line, ask for a response and wait until the turn is over."""
        assert self.manager is not None
        self.renderer.user(text)
        self.tracker.expect_turn()
        await self.manager.text_in(text)
        await self.manager.request_response()
        await self.wait_idle(timeout)

    async def interrupt(self) -> bool:
        """Stop the assistant now (a key): cancel and cut its answer, stop local playback."""
        assert self.manager is not None
        stopped = await self.manager.interrupt()
        for output in (self._virtual, self._speaker):
            if output is not None:
                output.interrupt()
        return stopped

    # -- what interactive input needs (``_talk_audio.TalkSession``) ------------------

    @property
    def ended(self) -> asyncio.Event:
        return self.tracker.ended

    def end_error(self) -> str | None:
        """The error that ended the conversation (or this run's view of it), if one did."""
        tracker = self.tracker
        if tracker.failure is not None:
            return tracker.failure
        if tracker.closed is None or tracker.closed.reason != "error":
            return None
        return tracker.errors[-1] if tracker.errors else "unknown error"

    async def send_line(self, text: str) -> None:
        """Send a typed line and ask for an answer, without waiting for it.

        It goes out at once, whatever the agent is doing; the model answers it as
        soon as its current response (if any) is over.
        """
        assert self.manager is not None
        self.renderer.user(text)
        self.tracker.expect_turn()
        await self.manager.text_in(text)
        await self.manager.request_response()

    async def cancel_delegation(self) -> bool:
        """Cancel the agent's running task (the model says so); False if none ran.

        The console binds a key to this; plain ``talk`` takes ``/cancel``.
        """
        assert self.manager is not None
        self.tracker.touch()
        return await self.manager.cancel_delegation()

    async def watch_turns(self, limit: float) -> None:
        """Raise when a turn in progress stalls for ``limit`` seconds (never returns)."""
        await self.tracker.watch(limit)

    def audio_sink(self) -> Callable[[bytes], Awaitable[None] | None]:
        """Where microphone pcm24k goes: the WebRTC track, else ``audio_in`` frames."""
        peer = self.peer
        if peer is not None:

            def push(pcm: bytes) -> None:
                if peer.outgoing_buffered_ms > MAX_MIC_LAG_MS and is_quiet(pcm, threshold=64):
                    return
                peer.push_pcm24k(pcm)

            return push
        manager = self.manager
        assert manager is not None

        async def send(pcm: bytes) -> None:
            await manager.audio_in(AudioFrame(base64.b64encode(pcm).decode("ascii")))

        return send

    async def wait_media(self, timeout: float) -> None:  # noqa: ASYNC109 (bounded wait)
        if self.peer is not None:
            await self.peer.wait_connected(timeout=timeout)

    async def media_lost(self) -> str:
        """Wait until the media path breaks (never, over WebSocket); returns why."""
        if self.peer is None:
            await asyncio.Event().wait()
        else:
            await self.peer.wait_ended()
        return "the WebRTC media connection ended"

    async def wait_idle(self, timeout: float) -> None:
        """Until the turn is over (a running delegation included).

        ``timeout`` is an idle limit: raised only when nothing happened for that long
        while no agent task ran (:func:`realtalk.cli._turns.wait_for_turn`).
        """
        await self.tracker.wait_idle(timeout)
        tracker = self.tracker
        if tracker.failure is not None:
            raise RealtalkError(tracker.failure)
        closed = tracker.closed
        if closed is not None and closed.reason != "requested":  # it ended during the turn
            detail = f": {tracker.errors[-1]}" if tracker.errors else ""
            raise RealtalkError(f"the conversation ended ({closed.reason}){detail}")

    async def aclose(self) -> None:
        """Stop everything; then raise ConfigError if an output file failed."""
        if self.manager is not None:
            with contextlib.suppress(RealtalkError):
                await self.manager.aclose()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        if self.peer is not None:
            await self.peer.aclose()
        if self._agent is not None:
            await self._agent.aclose()
        if self.emulator is not None:
            await self.emulator.aclose()
        if self._webrtc_import is not None:  # a thread: it ends with its import
            await asyncio.gather(self._webrtc_import, return_exceptions=True)
        close_outputs(self._log, self._audio, self._virtual)

"""``realtalk talk --app-server URL``: talk through a running app-server.

Here ``talk`` runs no conversation itself: it is a client of ``realtalk
app-server`` at ``ws://HOST:PORT`` (or ``stdio``: it spawns one). It initializes
with ``experimentalApi``, starts a thread and ``thread/realtime/start`` with the
WebSocket transport (WebRTC through an app-server is a browser's job: the media
must end where the microphone is), then renders the ``thread/realtime/*`` and
turn notifications like local ``talk``.

A typed line is ``appendText`` (append-only by design) followed by
``thread/realtime/requestResponse``, which asks the model to answer it.
``--audio-in`` and ``--mic`` send 20 ms ``appendAudio`` frames (the server's VAD
takes turns); the model's ``outputAudio/delta`` goes to ``--audio-out`` and the
speaker, which a ``speech_started`` item clears (barge-in). See
:mod:`._remote_events` for how the end of a turn is detected, and :mod:`._remote_link`
for how the app-server is reached (connected or spawned).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final

import realtalk
from realtalk._errors import ConfigError, ConnectError, RealtalkError
from realtalk.app_server import (
    TOKEN_ENV,
    Client,
    Notification,
    NotificationMethod,
    RealtimeAudioChunk,
    RealtimeTransportWebsocket,
)
from realtalk.cli._audio_pipe import AudioPipe
from realtalk.cli._device import AudioPlayback
from realtalk.cli._jsonl import EventLog
from realtalk.cli._outputs import SafePlayback, WavSink, close_outputs
from realtalk.cli._remote_events import (
    CONNECTION_LOST,
    RemoteTracker,
    check_remote_flags,
    conversation_event,
    elide_rpc_audio,
    parse_app_server_target,
    realtime_options,
)
from realtalk.cli._remote_link import connect_app_server, one_line, spawn_app_server
from realtalk.cli._render import Renderer
from realtalk.cli._talk_audio import AudioOptions, LocalAudio, run_mic, run_typed, stdin_lines
from realtalk.cli._turns import wait_for_turn
from realtalk.emulator import Emulator
from realtalk.transports import PCM24K_RATE, read_wav_pcm24k, stream_pcm24k

__all__ = ["RemoteTalk", "run_talk_remote"]

logger = logging.getLogger(__name__)

SETTLE_S: Final = 0.3
"""Quiet time after the turn looks over, before believing it (see _remote_events)."""
START_TIMEOUT_S: Final = 30.0
CONNECT_TIMEOUT_S: Final = 10.0
"""Longest wait to connect to a running app-server (``--connect-timeout`` overrides it)."""
STOP_TIMEOUT_S: Final = 5.0


class RemoteTalk:
    """Everything one remote ``talk`` run owns; ``async with`` closes it all."""

    def __init__(
        self,
        renderer: Renderer,
        *,
        events_jsonl: str | None = None,
        audio_out: str | None = None,
        playback: AudioPlayback | None = None,
    ) -> None:
        self.renderer = renderer
        self.playback = playback  # the local speaker (``--speaker``)
        self._speaker = SafePlayback(playback, renderer.error) if playback is not None else None
        self.tracker = RemoteTracker()
        self.client: Client | None = None
        self.emulator: Emulator | None = None
        self.thread_id: str | None = None
        self._log = EventLog(events_jsonl) if events_jsonl else None
        self._wav: WavSink | None = None
        self._pipe: AudioPipe | None = None
        self._watcher: asyncio.Task[None] | None = None
        if audio_out:
            try:
                self._wav = WavSink(audio_out)
            except ConfigError:
                with contextlib.suppress(ConfigError):
                    close_outputs(self._log)
                raise

    async def __aenter__(self) -> RemoteTalk:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        except ConfigError as close_error:
            if exc is None:
                raise
            self.renderer.error(str(close_error))  # the run's own failure goes first

    # -- connecting --------------------------------------------------------------------

    def _tap(self, direction: str, data: bytes) -> None:
        if self._log is not None:
            self._log(direction, elide_rpc_audio(data))

    async def connect(
        self, url: str, token: str | None, *, open_timeout: float = CONNECT_TIMEOUT_S
    ) -> None:
        self.client = await connect_app_server(
            url,
            token,
            on_notification=self._on_notification,
            tap=self._tap,
            open_timeout=open_timeout,
        )
        self._watch_connection()

    def _watch_connection(self) -> None:
        """End the conversation for our loops if the app-server connection drops."""
        client = self.client
        assert client is not None

        async def watch() -> None:
            await client.closed.wait()
            self.tracker.connection_lost("the app-server closed the connection")

        self._watcher = asyncio.ensure_future(watch())

    async def spawn(self, args: argparse.Namespace) -> None:
        """``--app-server stdio``: run ``realtalk app-server`` as a child process."""
        self.client, self.emulator = await spawn_app_server(
            args, on_notification=self._on_notification, tap=self._tap, announce=self.renderer.info
        )
        self._watch_connection()

    def _require(self) -> tuple[Client, str]:
        assert self.client is not None and self.thread_id is not None
        return self.client, self.thread_id

    # -- notifications -------------------------------------------------------------------

    def _on_notification(self, notification: Notification) -> None:
        method, params = notification
        if isinstance(params, dict) or getattr(params, "thread_id", None) != self.thread_id:
            return  # another thread's, or not decodable (the client logged it)
        self.tracker.observe(method, params)  # first: a failing renderer cannot skip it
        if method == NotificationMethod.REALTIME_OUTPUT_AUDIO_DELTA:
            self._play(params.audio)
        elif method == NotificationMethod.REALTIME_ITEM_ADDED and (
            params.item.get("type") == "input_audio_buffer.speech_started"
        ):
            if self._speaker is not None:
                self._speaker.interrupt()  # barge-in: stop talking over the person
        elif method == NotificationMethod.REALTIME_CLOSED:
            self.renderer.info(f"conversation closed ({params.reason})")
        elif self.tracker.started.is_set() or method != NotificationMethod.REALTIME_ERROR:
            # A failed start is reported once, by start().
            event = conversation_event(notification)
            if event is not None:
                self.renderer.show(event)

    def _play(self, chunk: RealtimeAudioChunk) -> None:
        if self._wav is not None:
            self._wav.write_chunk(chunk)
        if self._speaker is not None:
            try:
                pcm = base64.b64decode(chunk.data, validate=True)
            except binascii.Error:
                logger.warning("skipping output audio that is not valid base64")
                return
            self._speaker.play(pcm)

    async def _wait(self, *events: asyncio.Event) -> None:
        """Wait for any of ``events``; fail if the app-server connection drops first."""
        assert self.client is not None
        closed = self.client.closed
        waiters = [asyncio.ensure_future(e.wait()) for e in (*events, closed)]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if not any(e.is_set() for e in events):
            raise ConnectError("the app-server closed the connection")

    # -- the conversation ----------------------------------------------------------------

    async def start(self, options: dict[str, Any]) -> None:
        """initialize, thread/start, thread/realtime/start; wait until it started."""
        client = self.client
        assert client is not None
        await client.initialize(
            "realtalk_cli",
            experimental_api=True,
            title="realtalk talk",
            version=realtalk.__version__,
        )
        self.thread_id = (await client.thread_start()).thread.id
        transport = RealtimeTransportWebsocket()
        await client.realtime_start(self.thread_id, transport=transport, **options)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(START_TIMEOUT_S):
                await self._wait(self.tracker.started, self.tracker.errored)
        if not self.tracker.started.is_set():
            errors = self.tracker.errors
            message = errors[-1] if errors else "no answer from the app-server"
            raise RealtalkError(f"could not start the conversation: {one_line(message)}")

    async def say(self, text: str, *, timeout: float) -> None:
        """Append a typed line, ask for a response, wait until the turn is over."""
        client, thread_id = self._require()
        self.renderer.user(text)
        self.tracker.expect_turn()
        await client.append_text(thread_id, text)
        await client.request_response(thread_id)
        await self.wait_idle(timeout)

    async def stream_pcm(self, pcm: bytes, name: str) -> None:
        """Send pcm24k as ``appendAudio`` frames at real-time pace."""
        # Trailing silence lets server VAD end the turn.
        pcm += bytes(PCM24K_RATE * 2)
        self.renderer.info(
            f"streaming {name} ({len(pcm) / (PCM24K_RATE * 2):.1f}s at real-time pace)"
        )
        self.tracker.expect_turn()
        await stream_pcm24k(pcm, self.audio_sink())
        assert self._pipe is not None
        await self._pipe.drain()

    # -- what interactive input needs (``_talk_audio.TalkSession``) ------------------

    @property
    def ended(self) -> asyncio.Event:
        return self.tracker.ended

    def end_error(self) -> str | None:
        if self.tracker.closed not in ("error", CONNECTION_LOST):
            return None
        return one_line(self.tracker.errors[-1]) if self.tracker.errors else "unknown error"

    async def send_line(self, text: str) -> None:
        client, thread_id = self._require()
        self.renderer.user(text)
        self.tracker.expect_turn()
        await client.append_text(thread_id, text)
        await client.request_response(thread_id)

    async def cancel_delegation(self) -> bool:
        """``thread/realtime/cancelHandoff``: True if a delegation was running."""
        client, thread_id = self._require()
        self.tracker.touch()
        return await client.cancel_handoff(thread_id)

    async def watch_turns(self, limit: float) -> None:
        """Raise when a turn in progress stalls for ``limit`` seconds (never returns)."""
        while True:
            await self._wait(self.tracker.busy)
            await self.wait_idle(limit)

    def audio_sink(self) -> Callable[[bytes], Awaitable[None]]:
        """``appendAudio`` frames, pipelined (see :mod:`._audio_pipe`)."""
        if self._pipe is None:
            client, thread_id = self._require()
            self._pipe = AudioPipe(client, thread_id)
        return self._pipe.send

    async def wait_media(self, timeout: float) -> None:  # noqa: ASYNC109 (bounded wait)
        return  # audio rides the app-server connection, which is up

    async def media_lost(self) -> str:
        assert self.client is not None
        await self.client.closed.wait()
        return "the app-server closed the connection"

    async def wait_idle(self, timeout: float) -> None:
        """Until the turn is over; ``timeout`` is an idle limit (see ``_turns``)."""
        tracker = self.tracker
        while tracker.closed is None:
            await wait_for_turn(
                lambda: self._wait(tracker.idle),
                done=tracker.idle.is_set,
                last_activity=lambda: tracker.last_activity,
                agent_running=lambda: tracker.agent_running,
                limit=timeout,
            )
            if tracker.closed is not None:
                break  # ``closed`` sets ``idle`` too: the turn did not finish
            tracker.activity.clear()
            try:
                async with asyncio.timeout(SETTLE_S):
                    await self._wait(tracker.activity)
            except TimeoutError:
                if tracker.idle.is_set():
                    return
        detail = f": {one_line(tracker.errors[-1])}" if tracker.errors else ""
        raise RealtalkError(f"the conversation ended ({tracker.closed}){detail}")

    async def stop(self) -> None:
        """``thread/realtime/stop`` and wait (bounded) for ``closed``."""
        client, thread_id = self._require()
        if self.tracker.closed is not None or client.closed.is_set():
            return
        mark = client.notification_count
        await client.realtime_stop(thread_id)
        with contextlib.suppress(TimeoutError, RealtalkError):
            await client.wait_for(
                NotificationMethod.REALTIME_CLOSED,
                lambda p: getattr(p, "thread_id", None) == thread_id,
                start=mark,
                timeout=STOP_TIMEOUT_S,
            )

    async def aclose(self) -> None:
        """Close the connection (a spawned app-server exits), the emulator, the files.

        Raises:
            ConfigError: an output file could not be written (after closing everything).
        """
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self._pipe is not None:
            await self._pipe.aclose()
        if self.client is not None:
            await self.client.aclose()
        if self.emulator is not None:
            await self.emulator.aclose()
        close_outputs(self._log, self._wav)


async def run_talk_remote(args: argparse.Namespace) -> int:
    """Run ``realtalk talk --app-server URL``; returns the exit code."""
    target = parse_app_server_target(args.app_server)
    check_remote_flags(args, target)
    options = realtime_options(args)
    pcm = await asyncio.to_thread(read_wav_pcm24k, args.audio_in) if args.audio_in else None
    token = args.app_server_token or os.environ.get(TOKEN_ENV) or None
    audio = AudioOptions.from_args(args)
    renderer = Renderer(verbose=args.verbose)
    async with (
        LocalAudio(audio) as local,
        RemoteTalk(
            renderer,
            events_jsonl=args.events_jsonl,
            audio_out=args.audio_out,
            playback=local.speaker,
        ) as talk,
    ):
        if local.speaker is not None:  # audio comes in bursts over the app-server link
            local.speaker.set_paced(paced=False)
        if target is None:
            await talk.spawn(args)
        else:
            await talk.connect(
                target, token, open_timeout=args.connect_timeout or CONNECT_TIMEOUT_S
            )
        await talk.start(options)
        if local.mic is not None:
            await run_mic(talk, local.mic, lines=stdin_lines(), quit_on_eof=sys.stdin.isatty())
        if pcm is not None:
            await talk.stream_pcm(pcm, args.audio_in)
            await talk.wait_idle(args.timeout)
        if args.text:
            await talk.say(args.text, timeout=args.timeout)
        if pcm is None and not args.text and local.mic is None:
            await run_typed(talk, stdin_lines(), timeout=args.timeout)
        await local.drain()
        await talk.stop()
    return 0

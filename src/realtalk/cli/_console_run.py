"""Running ``realtalk talk`` in the console: when, and the local conversation behind it.

The console runs when ``talk`` is interactive on a terminal (stdin, stdout and
stderr are TTYs, no ``--text`` / ``--audio-in``, no ``--app-server``), or when
``--console`` asks for it; ``--no-console`` keeps the plain line mode (which pipes
and scripts get anyway). textual is imported only here, only then.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from realtalk._config import Settings
from realtalk._errors import ConfigError, RealtalkError
from realtalk.agent import InterruptibleAgent
from realtalk.cli._console_view import StatusLine, level_dbfs
from realtalk.cli._session import TalkRuntime
from realtalk.cli._sounddevice import load_sounddevice
from realtalk.cli._talk_audio import AudioOptions, DeviceFactory, LocalAudio

if TYPE_CHECKING:
    from realtalk.cli._console import TalkConsole

__all__ = ["LocalConversation", "run_console", "wants_console"]

MEDIA_TIMEOUT_S = 15.0


def wants_console(args: argparse.Namespace) -> bool:
    """Whether this ``talk`` run gets the console (see the module docs).

    Raises:
        ConfigError: ``--console`` with an input that is not interactive.
    """
    forced: bool | None = getattr(args, "console", None)
    scripted = bool(args.text or args.audio_in)
    if getattr(args, "push_to_talk", False) and not (
        getattr(args, "mic", False) and forced is not False and not scripted
    ):
        raise ConfigError("--push-to-talk needs --mic and the console (a terminal)")
    if forced:
        if scripted or getattr(args, "app_server", None):
            raise ConfigError(
                "--console is interactive: it cannot be combined with --text, --audio-in "
                "or --app-server"
            )
        return True
    if forced is False or scripted or getattr(args, "app_server", None):
        return False
    # textual draws on stderr: all three must be the terminal.
    return sys.stdin.isatty() and sys.stdout.isatty() and sys.stderr.isatty()


class LocalConversation:
    """A local conversation (``TalkRuntime``) as the console drives it."""

    def __init__(
        self,
        args: argparse.Namespace,
        settings: Settings,
        *,
        offline: bool,
        audio: AudioOptions,
        fast_emulator_audio: bool = False,
        device_factory: DeviceFactory = load_sounddevice,
    ) -> None:
        self._args = args
        self._device_factory = device_factory
        self._fast = fast_emulator_audio
        self._settings = settings
        self._offline = offline
        self._audio = audio
        self._runtime: TalkRuntime | None = None  # while the conversation runs

    async def run(self, ui: TalkConsole, stop: asyncio.Event) -> None:
        from realtalk.cli._console import ConsoleRenderer

        args, settings = self._args, self._settings
        async with (
            LocalAudio(self._audio, factory=self._device_factory) as local,
            TalkRuntime(
                settings,
                renderer=ConsoleRenderer(ui),
                offline=self._offline,
                events_jsonl=args.events_jsonl,
                audio_out=args.audio_out,
                playback=local.speaker,
                agent_tap=ui.agent_event,
                fast_emulator_audio=self._fast,
            ) as runtime,
        ):
            if local.speaker is not None:  # only the WebRTC track paces the model's audio
                local.speaker.set_paced(paced=settings.transport == "webrtc")
            await runtime.start()
            self._runtime = runtime
            waiters: set[asyncio.Future[Any]] = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(runtime.ended.wait()),
            }
            if local.mic is not None:
                await runtime.wait_media(MEDIA_TIMEOUT_S)
                sink = runtime.audio_sink()

                def metered(pcm: bytes) -> Awaitable[None] | None:
                    ui.status.level_db = level_dbfs(pcm)
                    if settings.push_to_talk and not ui.status.talking:
                        return None  # push-to-talk: only what is said while the key is on
                    return sink(pcm)

                waiters.add(asyncio.ensure_future(local.mic.run(metered)))
                ui.add_line(
                    "info",
                    "push-to-talk: Ctrl-T starts talking, Ctrl-T again sends"
                    if settings.push_to_talk
                    else "listening: just talk (the server detects turns)",
                )
            try:
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
                self._runtime = None
            for waiter in done:
                if not waiter.cancelled() and waiter.exception() is not None:
                    raise RealtalkError(f"the microphone stopped: {waiter.exception()}")
            error = runtime.end_error()
            if error is not None:
                raise RealtalkError(f"the conversation ended with an error: {error}")
            assert runtime.manager is not None
            await runtime.manager.close()

    def _running(self) -> TalkRuntime:
        if self._runtime is None:
            raise RealtalkError("the conversation is not running")
        return self._runtime

    async def send_line(self, text: str) -> None:
        await self._running().send_line(text)

    async def interrupt(self) -> bool:
        return await self._running().interrupt()

    async def push_to_talk(self, *, talking: bool) -> bool:
        manager = self._running().manager
        assert manager is not None
        if talking:
            playback = self._running().playback  # stop hearing the assistant at once
            if playback is not None:
                playback.interrupt()
        return await manager.push_to_talk(talking=talking)

    async def cancel_agent(self) -> bool:
        """Stop the agent's running task (its commands are killed); the model says so."""
        manager = self._running().manager
        agent = manager.agent if manager is not None else None
        return isinstance(agent, InterruptibleAgent) and await agent.interrupt()


async def run_console(
    args: argparse.Namespace, settings: Settings, *, offline: bool, audio: AudioOptions
) -> int:
    """Run ``talk`` in the console until the person quits or the conversation ends."""
    from realtalk.cli._console import TalkConsole

    status = StatusLine(
        transport=settings.transport, mic=audio.mic, push_to_talk=settings.push_to_talk
    )
    app = TalkConsole(LocalConversation(args, settings, offline=offline, audio=audio), status)
    try:
        await app.run_async()
    finally:
        await app.finish()
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        # SIGTERM/SIGHUP cancel the run; textual ends quietly, the exit status must not.
        raise asyncio.CancelledError
    if app.failure is not None:
        raise app.failure
    return 0

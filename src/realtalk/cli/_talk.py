"""``realtalk talk``: type lines (or stream a WAV) and hear the model answer."""

from __future__ import annotations

import argparse
import asyncio
import sys

from realtalk.cli._console_run import run_console, wants_console
from realtalk.cli._render import Renderer
from realtalk.cli._session import TalkRuntime
from realtalk.cli._settings import resolve_cli_settings
from realtalk.cli._talk_audio import (
    AudioOptions,
    LocalAudio,
    list_devices,
    run_mic,
    run_typed,
    stdin_lines,
)
from realtalk.transports import PCM24K_RATE, read_wav_pcm24k, stream_pcm24k

__all__ = ["run_talk"]


async def _stream_wav(runtime: TalkRuntime, pcm: bytes, path: str) -> None:
    # Trailing silence lets server VAD end the turn.
    pcm += bytes(PCM24K_RATE * 2)
    runtime.renderer.info(
        f"streaming {path} ({len(pcm) / (PCM24K_RATE * 2):.1f}s at real-time pace)"
    )
    runtime.tracker.expect_turn()
    await runtime.wait_media(runtime.settings.connect_timeout_s)
    await stream_pcm24k(pcm, runtime.audio_sink())


async def run_talk(args: argparse.Namespace) -> int:
    if getattr(args, "list_devices", False):
        print(await asyncio.to_thread(list_devices))
        return 0
    audio = AudioOptions.from_args(args)
    console = wants_console(args)  # fails for --console with a scripted input
    if getattr(args, "app_server", None):
        from realtalk.cli._talk_remote import run_talk_remote

        return await run_talk_remote(args)
    settings, offline = resolve_cli_settings(args)
    if console:
        return await run_console(args, settings, offline=offline, audio=audio)
    # Read the WAV first: a bad file fails in one line before any network work.
    pcm = await asyncio.to_thread(read_wav_pcm24k, args.audio_in) if args.audio_in else None
    # Lines typed on a terminal are echoed by it as they are typed: not printed again.
    typed = not (args.audio_in or args.text)
    renderer = Renderer(verbose=args.verbose, echoed=typed and sys.stdin.isatty())
    async with (
        LocalAudio(audio) as local,
        TalkRuntime(
            settings,
            renderer=renderer,
            offline=offline,
            events_jsonl=args.events_jsonl,
            audio_out=args.audio_out,
            playback=local.speaker,
            # The real API streams WebSocket audio faster than real time; the offline
            # emulator paces it only for something that plays, records or talks over it.
            fast_emulator_audio=settings.transport == "websocket"
            and local.speaker is None
            and local.mic is None
            and not args.audio_out
            and pcm is None,
            # Scripted input alone (--text, --audio-in): nobody can answer a question.
            ask_person=local.mic is not None or not (args.audio_in or args.text),
        ) as runtime,
    ):
        if local.speaker is not None:  # only the WebRTC track paces the model's audio
            local.speaker.set_paced(paced=settings.transport == "webrtc")
        await runtime.start()
        if local.mic is not None:
            await run_mic(
                runtime,
                local.mic,
                lines=stdin_lines(),
                quit_on_eof=sys.stdin.isatty(),
                connect_timeout=settings.connect_timeout_s,
            )
        if pcm is not None:
            await _stream_wav(runtime, pcm, args.audio_in)
            await runtime.wait_idle(args.timeout)
        if args.text:
            await runtime.say(args.text, timeout=args.timeout)
        if not args.audio_in and not args.text and local.mic is None:
            await run_typed(runtime, stdin_lines(), timeout=args.timeout)
        await local.drain()
        assert runtime.manager is not None
        await runtime.manager.close()
    return 0

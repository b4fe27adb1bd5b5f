"""Offline OpenAI-compatible realtime emulator (``realtalk emulator``).

A deterministic scripted model behind the realtime WebSocket API (v2 GA and v1
"quicksilver") and WebRTC calls (``POST /v1/realtime/calls`` + sideband sockets),
with server VAD, handoff triggers, fault injection and TLS, for tests, demos and
benchmarks. The server role is implemented independently of the
client code (plain dicts + msgspec), so client and emulator cannot share a bug.
"""

from realtalk.emulator._call_media import CallRecord
from realtalk.emulator._cli import add_arguments as add_emulator_arguments
from realtalk.emulator._cli import run_from_args as run_emulator_from_args
from realtalk.emulator._model import EventSink, ScriptedModel
from realtalk.emulator._options import EmulatorOptions
from realtalk.emulator._record import RealtimeSessionRecord
from realtalk.emulator._responses import ResponsesEmulator, ResponsesOptions
from realtalk.emulator._server import Emulator
from realtalk.emulator._speech import AudioSink

__all__ = [
    "AudioSink",
    "CallRecord",
    "Emulator",
    "EmulatorOptions",
    "EventSink",
    "RealtimeSessionRecord",
    "ResponsesEmulator",
    "ResponsesOptions",
    "ScriptedModel",
    "add_emulator_arguments",
    "run_emulator_from_args",
]

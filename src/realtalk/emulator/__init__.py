"""Offline OpenAI-compatible server (``realtalk emulator``) for tests, demos and benchmarks.

A deterministic scripted model (rules: :mod:`realtalk.emulator._script`) behind:

* the realtime WebSocket API: GA, beta (``OpenAI-Beta: realtime=v1``) and v1
  "quicksilver"; WebRTC calls (``POST /v1/realtime/calls``) with sideband sockets;
  call control (accept/reject/refer/hangup, simulated incoming SIP calls); ephemeral
  client secrets (``POST /v1/realtime/client_secrets``);
* the Responses API over HTTP (JSON or SSE) and WebSocket, with stored responses
  and ``previous_response_id``;
* ``GET /v1/models``;

with server VAD, tools called as declared, fault injection and TLS. The server role
is implemented independently of realtalk's client packages (a test enforces it), so
client and emulator cannot share a bug.
"""

from realtalk.emulator._call_control import SipCall
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
    "SipCall",
    "add_emulator_arguments",
    "run_emulator_from_args",
]

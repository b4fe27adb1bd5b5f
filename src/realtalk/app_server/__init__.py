"""The JSON-RPC app-server (stdio and WebSocket) and its typed asyncio client.

``realtalk app-server`` lets editors, desktop apps and browsers drive threads,
turns (the built-in background agent) and the experimental realtime API.
"""

from realtalk.app_server._api import (
    METHODS,
    NOTIFICATIONS,
    AgentMessageItem,
    InitializeResult,
    RealtimeAudioChunk,
    RealtimeTransportWebrtc,
    RealtimeTransportWebsocket,
    RealtimeVoices,
    TextInput,
    Thread,
    ThreadStartParams,
    ThreadStartResult,
    Turn,
    TurnStartResult,
    UserMessageItem,
)
from realtalk.app_server._bench import bench_app_server
from realtalk.app_server._cli import add_app_server_arguments, run_app_server_from_args
from realtalk.app_server._client import (
    Client,
    Notification,
    RpcError,
    ServerRequest,
    default_server_command,
)
from realtalk.app_server._connection import ConnectionLimits
from realtalk.app_server._dispatch import AppServerOptions
from realtalk.app_server._schema import generate_json_schema
from realtalk.app_server._server import AppServer
from realtalk.app_server._threads import AgentFactory, ThreadConfig

__all__ = [
    "METHODS",
    "NOTIFICATIONS",
    "AgentFactory",
    "AgentMessageItem",
    "AppServer",
    "AppServerOptions",
    "Client",
    "ConnectionLimits",
    "InitializeResult",
    "Notification",
    "ServerRequest",
    "RealtimeAudioChunk",
    "RealtimeTransportWebrtc",
    "RealtimeTransportWebsocket",
    "RealtimeVoices",
    "RpcError",
    "TextInput",
    "Thread",
    "ThreadConfig",
    "ThreadStartParams",
    "ThreadStartResult",
    "Turn",
    "TurnStartResult",
    "UserMessageItem",
    "add_app_server_arguments",
    "bench_app_server",
    "default_server_command",
    "generate_json_schema",
    "run_app_server_from_args",
]

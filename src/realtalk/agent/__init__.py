"""Background agents: the interface, and the agents realtalk ships."""

from realtalk.agent._bench import bench_preconnect
from realtalk.agent._command import OUTPUT_TRUNCATED_MARKER, CommandAgent
from realtalk.agent._interface import (
    AgentEvent,
    AssistantMessage,
    BackgroundAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.agent._model_client import ModelClient, ModelClientOptions
from realtalk.agent._model_session import (
    ModelClientSession,
    Prompt,
    ResponseResult,
    StreamRetry,
)
from realtalk.agent._responses_agent import ResponsesAgent

__all__ = [
    "OUTPUT_TRUNCATED_MARKER",
    "AgentEvent",
    "AssistantMessage",
    "BackgroundAgent",
    "CommandAgent",
    "ModelClient",
    "ModelClientOptions",
    "ModelClientSession",
    "Prompt",
    "ResponseResult",
    "ResponsesAgent",
    "StreamRetry",
    "TaskComplete",
    "TaskFailed",
    "bench_preconnect",
]

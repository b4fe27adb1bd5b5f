"""Background agents: the interface, and the agents realtalk ships."""

from realtalk.agent._command import OUTPUT_TRUNCATED_MARKER, CommandAgent
from realtalk.agent._interface import (
    INTERRUPTED_MESSAGE,
    AgentEvent,
    AssistantDelta,
    AssistantMessage,
    BackgroundAgent,
    InterruptibleAgent,
    TaskComplete,
    TaskFailed,
)
from realtalk.agent._model_client import ModelClient
from realtalk.agent._model_options import ModelClientOptions
from realtalk.agent._model_session import (
    ModelClientSession,
    Prompt,
    ResponseResult,
    StreamItem,
    StreamRetry,
)
from realtalk.agent._responses_agent import ResponsesAgent

__all__ = [
    "INTERRUPTED_MESSAGE",
    "OUTPUT_TRUNCATED_MARKER",
    "AgentEvent",
    "AssistantDelta",
    "AssistantMessage",
    "BackgroundAgent",
    "CommandAgent",
    "InterruptibleAgent",
    "ModelClient",
    "ModelClientOptions",
    "ModelClientSession",
    "Prompt",
    "ResponseResult",
    "ResponsesAgent",
    "StreamItem",
    "StreamRetry",
    "TaskComplete",
    "TaskFailed",
]

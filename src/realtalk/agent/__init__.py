"""Background agents: the interface, and the agents realtalk ships."""

from realtalk.agent._approval import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    Approver,
    fixed_approver,
)
from realtalk.agent._bwrap import SandboxStatus, sandbox_status
from realtalk.agent._command import OUTPUT_TRUNCATED_MARKER, CommandAgent
from realtalk.agent._interface import (
    INTERRUPTED_MESSAGE,
    AgentEvent,
    ApprovalRequested,
    ApprovalResolved,
    ApprovingAgent,
    AssistantDelta,
    AssistantMessage,
    BackgroundAgent,
    CommandFinished,
    CommandOutput,
    CommandStarted,
    FileChange,
    InterruptibleAgent,
    PatchApplied,
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
from realtalk.agent._sandbox import SandboxMode, SandboxPolicy
from realtalk.agent._shell import SafetyOptions, safety_from_settings
from realtalk.agent._startup import report_sandbox

__all__ = [
    "INTERRUPTED_MESSAGE",
    "OUTPUT_TRUNCATED_MARKER",
    "AgentEvent",
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalRequest",
    "ApprovalRequested",
    "ApprovalResolved",
    "ApprovingAgent",
    "Approver",
    "AssistantDelta",
    "AssistantMessage",
    "BackgroundAgent",
    "CommandAgent",
    "CommandFinished",
    "CommandOutput",
    "CommandStarted",
    "FileChange",
    "InterruptibleAgent",
    "ModelClient",
    "ModelClientOptions",
    "ModelClientSession",
    "PatchApplied",
    "Prompt",
    "ResponseResult",
    "ResponsesAgent",
    "SafetyOptions",
    "SandboxMode",
    "SandboxPolicy",
    "SandboxStatus",
    "StreamItem",
    "StreamRetry",
    "TaskComplete",
    "TaskFailed",
    "fixed_approver",
    "report_sandbox",
    "safety_from_settings",
    "sandbox_status",
]

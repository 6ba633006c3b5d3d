"""Signal, update, query and activity payloads of the call workflow.

Plain dataclasses with a default on every field added after the first release, so that old
histories still decode. No audio in payloads. Shared by the workflow, its activities, the API and
the realtime bridge; this module imports nothing with side effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class CallStatus(StrEnum):
    RINGING = "ringing"
    ANSWERING = "answering"
    CONNECTED = "connected"
    ENDING = "ending"
    COMPLETED = "completed"
    TRANSFERRED = "transferred"
    FAILED = "failed"


TERMINAL_STATUSES = frozenset({CallStatus.COMPLETED, CallStatus.TRANSFERRED, CallStatus.FAILED})


def call_workflow_id(correlation_id: str) -> str:
    """The workflow id of the call ACS knows by `correlation_id` (stable across redeliveries)."""
    return f"call-{correlation_id}"


@dataclass
class CallInput:
    correlation_id: str
    incoming_call_context: str
    server_call_id: str = ""
    caller: str = ""
    callee: str = ""
    caller_display_name: str = ""
    direction: str = "inbound"
    agent: str = "default"


@dataclass
class AcsEvent:
    """One ACS Call Automation callback event (a CloudEvent), reduced to what the workflow uses."""

    id: str
    type: str
    call_connection_id: str = ""
    server_call_id: str = ""
    correlation_id: str = ""
    operation_context: str = ""
    time: str = ""
    result_code: int = 0
    result_sub_code: int = 0
    result_message: str = ""


@dataclass
class MediaAttached:
    worker_id: str
    session_id: str
    sample_rate: int = 16000
    task_queue: str = ""


@dataclass
class TurnTimings:
    """Per-turn latencies in milliseconds (0 when not measured)."""

    end_of_speech_ms: float = 0.0
    recognition_final_ms: float = 0.0
    brain_first_token_ms: float = 0.0
    synthesis_first_audio_ms: float = 0.0
    voice_to_voice_ms: float = 0.0
    barge_in_stop_ms: float = 0.0


@dataclass
class Turn:
    sequence: int
    caller_text: str = ""
    agent_text: str = ""
    agent: str = ""
    interrupted: bool = False
    started_at: str = ""
    timings: TurnTimings = field(default_factory=TurnTimings)


@dataclass
class CallEnded:
    reason: str
    worker_id: str = ""
    last_sequence: int = 0


@dataclass
class HangUpRequest:
    reason: str = "requested"
    requested_by: str = "agent"


@dataclass
class HangUpResult:
    accepted: bool
    status: str = ""


@dataclass
class ToolCall:
    """A tool with side effects the realtime brain asks the workflow to run (a `run_tool` update)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""
    agent: str = ""


@dataclass
class ToolResult:
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class ToolCallRecord:
    """A tool call as the call's history keeps it."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    at: str = ""
    idempotency_key: str = ""


@dataclass
class CallState:
    workflow_id: str
    correlation_id: str
    status: str
    caller: str = ""
    callee: str = ""
    direction: str = "inbound"
    current_agent: str = ""
    call_connection_id: str = ""
    server_call_id: str = ""
    media_worker_id: str = ""
    started_at: str = ""
    answered_at: str = ""
    connected_at: str = ""
    ended_at: str = ""
    end_reason: str = ""
    claim_id: str = ""
    failure: str = ""
    turns: list[Turn] = field(default_factory=list)
    events_seen: int = 0
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    archive_hash: str = ""
    media_active: bool = False
    media_ended_reason: str = ""


@dataclass
class AnswerCallInput:
    workflow_id: str
    incoming_call_context: str
    correlation_id: str
    operation_context: str = ""


@dataclass
class AnswerCallResult:
    call_connection_id: str
    server_call_id: str = ""
    transport_url: str = ""


@dataclass
class HangUpCallInput:
    call_connection_id: str
    for_everyone: bool = True


@dataclass
class FileClaimInput:
    idempotency_key: str
    workflow_id: str
    caller: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileClaimResult:
    claim_id: str
    created: bool = True


@dataclass
class ArchiveCallResult:
    workflow_id: str
    content_hash: str
    outcome: str = ""

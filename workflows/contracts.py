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
    # The realtime worker holding the call died; the workflow is apologising and handing it over.
    RECOVERING = "recovering"
    COMPLETED = "completed"
    TRANSFERRED = "transferred"
    FAILED = "failed"
    # Ended after its realtime worker died: transferred to people, or hung up with a callback booked.
    RECOVERED = "recovered"


TERMINAL_STATUSES = frozenset({CallStatus.COMPLETED, CallStatus.TRANSFERRED, CallStatus.FAILED, CallStatus.RECOVERED})


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
    # An outbound call waits this long before dialling (a callback booked for later).
    dial_after_seconds: int = 0


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
    # The holding worker's own task queue: the workflow runs its media watchdog there.
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
    recording_location: str = ""  # where the worker uploaded the call's recording ("" if none)


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
    transfers: list[TransferRecord] = field(default_factory=list)
    follow_up_workflow_id: str = ""
    handoffs: list[HandoffRecord] = field(default_factory=list)
    recording_location: str = ""
    media_session_id: str = ""
    recovery: RecoveryRecord | None = None
    summary: CallSummary | None = None
    # ACS server-side recording (when enabled): its id, then where our copy of the file is.
    server_recording_id: str = ""
    server_recording_location: str = ""


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
    follow_up: FollowUpPolicy | None = None


@dataclass
class ArchiveCallResult:
    workflow_id: str
    content_hash: str
    outcome: str = ""


# ---------------------------------------------------------------------- transfer to a human


@dataclass
class TransferRequest:
    """Transfer the caller to a person: a phone number (E.164) or a named queue (`claims-agents`)."""

    target: str = ""
    reason: str = "requested"
    requested_by: str = "agent"


@dataclass
class TransferResult:
    accepted: bool
    status: str = ""
    target: str = ""
    reason: str = ""


@dataclass
class TransferCallInput:
    call_connection_id: str
    target: str = ""
    operation_context: str = ""


@dataclass
class TransferCallResult:
    operation_context: str = ""
    target_number: str = ""


@dataclass
class TransferRecord:
    """One transfer attempt as the call's history keeps it."""

    target: str
    requested_by: str = ""
    reason: str = ""
    operation_context: str = ""
    outcome: str = ""  # accepted / failed / timeout / error
    detail: str = ""
    at: str = ""


# ---------------------------------------------------------------------- outbound calls


@dataclass
class PlaceCallInput:
    workflow_id: str
    correlation_id: str
    target: str
    source_caller_id: str = ""
    operation_context: str = ""
    # The agent the realtime worker should open the call with (an outbound follow-up agent).
    agent: str = ""


@dataclass
class PlaceCallResult:
    call_connection_id: str
    server_call_id: str = ""


# ---------------------------------------------------------------------- claim follow-up


def claim_follow_up_workflow_id(claim_id: str) -> str:
    return f"claim-{claim_id}"


# What a claim needs before it can be settled. Documents are not tracked by kind yet: a follow-up
# call is placed only while none has arrived, so on that call all of these are missing.
CLAIM_DOCUMENTS: tuple[str, ...] = ("photos of the damage", "a repair estimate")

_FOLLOW_UP_PREFIX = "follow-up-"


def follow_up_correlation_id(claim_id: str, reminder: int) -> str:
    """The correlation id of a claim's `reminder`-th follow-up call. It names the claim, so the
    realtime worker (which gets the correlation id in the transport URL) knows what the call is about."""
    return f"{_FOLLOW_UP_PREFIX}{claim_id}-{reminder}"


def claim_id_of_follow_up(correlation_id: str) -> str | None:
    """The claim a follow-up call is about (`follow_up_correlation_id` read back), or None."""
    if not correlation_id.startswith(_FOLLOW_UP_PREFIX):
        return None
    claim_id, _, reminder = correlation_id[len(_FOLLOW_UP_PREFIX) :].rpartition("-")
    return claim_id if claim_id and reminder.isdigit() else None


@dataclass
class FollowUpPolicy:
    """How a claim is followed up; from settings, through the `file_claim` result (workflows never
    read settings)."""

    reminder_intervals_seconds: list[int] = field(default_factory=lambda: [86400, 259200])
    escalate_after_reminders: int = 3
    outbound_agent: str = "claims-follow-up"
    outbound_caller_id: str = ""
    continue_as_new_after_events: int = 500


@dataclass
class ClaimFollowUpInput:
    claim_id: str
    caller: str = ""
    call_workflow_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    policy: FollowUpPolicy = field(default_factory=FollowUpPolicy)
    # Carried over continue-as-new.
    state: ClaimFollowUpState | None = None


@dataclass
class ClaimFollowUpEvent:
    kind: str  # document_received / adjuster_assigned / reminder / follow_up_call / escalated / closed
    at: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClaimFollowUpState:
    claim_id: str
    status: str = "open"  # open / escalated / closed
    documents: list[str] = field(default_factory=list)
    adjuster: str = ""
    reminders_sent: int = 0
    follow_up_calls: list[str] = field(default_factory=list)
    escalated: bool = False
    closed_reason: str = ""
    events: list[ClaimFollowUpEvent] = field(default_factory=list)
    runs: int = 1
    next_reminder_at: str = ""


@dataclass
class DocumentReceived:
    document_id: str
    kind: str = ""


@dataclass
class AdjusterAssigned:
    adjuster: str


@dataclass
class ClaimClosed:
    reason: str = "closed"


@dataclass
class RecordClaimEventInput:
    claim_id: str
    event: ClaimFollowUpEvent
    status: str = ""
    follow_up_workflow_id: str = ""


# ---------------------------------------------------------------------- agents and handoffs


@dataclass
class AgentScenario:
    """The allowed handoffs between agents (from the agents' configuration, through an activity)."""

    entry: str = "default"
    handoffs: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class HandoffRequest:
    target_agent: str
    reason: str = ""
    requested_by: str = "agent"


@dataclass
class HandoffDecision:
    accepted: bool
    agent: str = ""
    previous_agent: str = ""
    reason: str = ""


@dataclass
class HandoffRecord:
    from_agent: str
    to_agent: str
    reason: str = ""
    requested_by: str = ""
    at: str = ""


# ---------------------------------------------------------------------- media watchdog and recovery


@dataclass
class HoldMediaInput:
    """The watchdog activity the workflow runs on the realtime worker that holds a call's media."""

    workflow_id: str
    session_id: str
    heartbeat_seconds: float = 1.0


@dataclass
class MediaHeld:
    """How the watched media session ended (`held` False: the worker never had it)."""

    session_id: str
    held: bool
    reason: str = ""


@dataclass
class RecoveryPolicy:
    """What the workflow does when the worker holding a call's media dies (from settings)."""

    action: str = "transfer"  # "transfer" to people, else "callback": hang up and call back later
    transfer_target: str = "human-queue"
    apology: str = "I'm sorry, we are having a technical problem on this call. I'm connecting you to a colleague now."
    callback_apology: str = "I'm sorry, we are having a technical problem. We will call you back shortly. Goodbye."
    heartbeat_timeout_seconds: float = 5.0
    schedule_to_start_seconds: float = 10.0
    # After a heartbeat timeout: how long a live worker has to pick the watchdog up again.
    confirm_seconds: float = 3.0
    max_call_seconds: int = 4 * 3600
    callback_delay_seconds: int = 300
    callback_agent: str = ""  # "" : the scenario's entry agent
    callback_caller_id: str = ""
    voice: str = ""


@dataclass
class RecoveryRecord:
    at: str
    cause: str  # "heartbeat_timeout", "schedule_to_start_timeout", "worker_failed: ..."
    lost_worker_id: str = ""
    lost_session_id: str = ""
    action: str = ""
    outcome: str = ""  # "transferred", "callback_scheduled", "hung_up", "call_ended"
    detail: str = ""
    turns_recovered: int = 0
    callback_workflow_id: str = ""


@dataclass
class RecoverTurnsInput:
    """Turns the realtime worker published to Redis that the workflow has not received."""

    correlation_id: str
    known_sequences: list[int] = field(default_factory=list)


@dataclass
class RecoveredTurns:
    turns: list[Turn] = field(default_factory=list)


@dataclass
class PlayTextInput:
    call_connection_id: str
    text: str
    operation_context: str
    voice: str = ""


@dataclass
class CallSummary:
    """The post-call summary for staff, and which engine (and model route) wrote it."""

    text: str
    engine: str = "local"
    model: str = ""


@dataclass
class CallPolicy:
    """Per-deployment call handling the workflow needs (from settings, through an activity)."""

    recovery: RecoveryPolicy = field(default_factory=RecoveryPolicy)
    server_recording: bool = False
    recording_file_timeout_seconds: int = 900


@dataclass
class RecordingFileReady:
    """ACS's `RecordingFileStatusUpdated` (through Event Grid), reduced to what storing it needs."""

    event_id: str
    recording_id: str
    content_location: str
    metadata_location: str = ""
    delete_location: str = ""
    document_id: str = ""
    duration_ms: int = 0

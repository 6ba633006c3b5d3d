"""Calls as the back office sees them: search (Temporal visibility), one call's state and transcript
(the workflow query while it runs, the archived record after), the live transcript stream (SSE from
Redis), the live session state (Redis: which worker holds the media, which agent) and staff
actions: hang up and transfer (the workflow's `hang_up` / `request_transfer` updates) and
outbound calls (a new outbound `CallWorkflow`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from activities.storage import CallRecord, verify
from activities.storage.records import record_to_document
from api.auth import CurrentReader, CurrentStaff
from api.deps import ArchiveDep, RedisDep, SettingsDep, TemporalClientDep
from realtime.live import channel_key, turns_key
from realtime.live_state import read_live_state
from workflows.call import CallWorkflow
from workflows.contracts import CallInput, CallState, CallStatus, HangUpRequest, TransferRequest, call_workflow_id

router = APIRouter(prefix="/calls", tags=["calls"])

CALL_WORKFLOW_TYPE = "CallWorkflow"
CALLER_NUMBER = SearchAttributeKey.for_keyword("CallerNumber")
CALL_STATUS = SearchAttributeKey.for_keyword("CallStatus")
CURRENT_AGENT = SearchAttributeKey.for_keyword("CurrentAgent")
CLAIM_ID = SearchAttributeKey.for_keyword("ClaimId")
CALL_DURATION_SECONDS = SearchAttributeKey.for_int("CallDurationSeconds")

# A phone number (E.164) or a named queue, as a transfer target or an outbound callee.
PHONE_NUMBER = r"^\+[1-9][0-9]{6,14}$"
TRANSFER_TARGET = r"^(\+[1-9][0-9]{6,14}|[a-z][a-z0-9-]{1,62})$"
AGENT_NAME = r"^[a-z][a-z0-9-]{0,62}$"
REQUEST_ID = r"^[A-Za-z0-9-]{1,64}$"

# Filter values go into a visibility query; only these characters may, so nothing can be injected.
SAFE_VALUE = r"^[A-Za-z0-9+@._:\-]{1,128}$"
_SAFE = re.compile(SAFE_VALUE)


def _literal(value: str) -> str:
    """A visibility-query string literal. Values are validated against `SAFE_VALUE` first; quoting
    and escaping here is a second line of defence."""
    if not _SAFE.fullmatch(value):
        raise ValueError(f"unsafe visibility value {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _time_literal(value: datetime) -> str:
    return '"' + value.isoformat().replace("+00:00", "Z") + '"'


def build_calls_query(
    *,
    caller: str | None = None,
    status: str | None = None,
    agent: str | None = None,
    claim_id: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> str:
    """The visibility query for the filters given (all optional, combined with AND)."""
    clauses = [f"WorkflowType = {_literal(CALL_WORKFLOW_TYPE)}"]
    for attribute, value in (("CallerNumber", caller), ("CallStatus", status), ("CurrentAgent", agent)):
        if value:
            clauses.append(f"{attribute} = {_literal(value)}")
    if claim_id:
        clauses.append(f"ClaimId = {_literal(claim_id)}")
    if started_after is not None:
        clauses.append(f"StartTime >= {_time_literal(started_after)}")
    if started_before is not None:
        clauses.append(f"StartTime < {_time_literal(started_before)}")
    return " AND ".join(clauses)


class CallSummary(BaseModel):
    workflow_id: str
    run_id: str | None = None
    execution_status: str = Field(description="Temporal's status of the workflow: RUNNING, COMPLETED, ...")
    status: str | None = Field(default=None, description="The call's status (CallStatus search attribute)")
    caller: str | None = None
    agent: str | None = None
    claim_id: str | None = None
    duration_seconds: int | None = None
    start_time: datetime | None = None
    close_time: datetime | None = None


class CallList(BaseModel):
    query: str
    calls: list[CallSummary]


class TurnView(BaseModel):
    sequence: int
    caller_text: str = ""
    agent_text: str = ""
    agent: str = ""
    interrupted: bool = False


class CallDetail(BaseModel):
    """One call. `source` says where it came from: the running workflow's query, or the archive."""

    source: Literal["workflow", "archive"]
    workflow_id: str
    running: bool
    status: str
    caller: str = ""
    callee: str = ""
    current_agent: str = ""
    claim_id: str = ""
    started_at: str = ""
    ended_at: str = ""
    end_reason: str = ""
    turns: list[TurnView] = Field(default_factory=list)
    summary: str = Field(default="", description="The post-call summary, once the call has ended")
    content_hash: str = Field(default="", description="The archived record's hash (source=archive)")
    record_verified: bool | None = Field(default=None, description="The record matches its hash (source=archive)")
    state: dict[str, Any] | None = Field(default=None, description="The full workflow state (source=workflow)")
    record: dict[str, Any] | None = Field(default=None, description="The full archived record (source=archive)")


class HangUpBody(BaseModel):
    reason: str = Field(default="staff request", min_length=1, max_length=200)


class TransferBody(BaseModel):
    target: str = Field(pattern=TRANSFER_TARGET, description="E.164 number or a named queue (claims-agents)")
    reason: str = Field(default="staff request", min_length=1, max_length=200)


class TransferAck(BaseModel):
    workflow_id: str
    accepted: bool
    status: str = Field(description="The transfer's outcome: accepted / failed / timeout / error / call_ended")
    target: str
    reason: str = ""
    requested_by: str


class OutboundCallBody(BaseModel):
    callee: str = Field(pattern=PHONE_NUMBER, description="Who to call (E.164)")
    agent: str = Field(default="default", pattern=AGENT_NAME)
    caller_id: str | None = Field(default=None, pattern=PHONE_NUMBER, description="Default: claims.outbound_caller_id")
    request_id: str | None = Field(
        default=None,
        pattern=REQUEST_ID,
        description="Idempotency key: the same request id places the call once (default: a new call each time)",
    )


class OutboundCallAck(BaseModel):
    workflow_id: str
    correlation_id: str
    callee: str
    agent: str
    requested_by: str


class LiveStateView(BaseModel):
    """What the realtime worker wrote to Redis for the call (keys expire an hour after the call)."""

    workflow_id: str
    worker: str = Field(default="", description="The realtime worker holding (or last holding) the media")
    agent: str = Field(default="", description="The agent the media session started with")
    media: str = Field(default="", description='"active", or "ended:<reason>"')


class HangUpAck(BaseModel):
    workflow_id: str
    accepted: bool
    status: str
    requested_by: str


@router.get("", response_model=CallList, summary="List and search calls (Temporal visibility)")
async def list_calls(
    temporal: TemporalClientDep,
    _: CurrentReader,
    caller: Annotated[str | None, Query(pattern=SAFE_VALUE, description="CallerNumber, e.g. +15551230001")] = None,
    status_: Annotated[CallStatus | None, Query(alias="status")] = None,
    agent: Annotated[str | None, Query(pattern=SAFE_VALUE)] = None,
    claim_id: Annotated[str | None, Query(pattern=SAFE_VALUE)] = None,
    started_after: Annotated[datetime | None, Query(description="StartTime >= this (ISO 8601)")] = None,
    started_before: Annotated[datetime | None, Query(description="StartTime < this (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CallList:
    query = build_calls_query(
        caller=caller,
        status=str(status_) if status_ else None,
        agent=agent,
        claim_id=claim_id,
        started_after=started_after,
        started_before=started_before,
    )
    calls = []
    async for execution in temporal.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        calls.append(
            CallSummary(
                workflow_id=execution.id,
                run_id=execution.run_id,
                execution_status=execution.status.name if execution.status else "UNKNOWN",
                status=attributes.get(CALL_STATUS),
                caller=attributes.get(CALLER_NUMBER),
                agent=attributes.get(CURRENT_AGENT),
                claim_id=attributes.get(CLAIM_ID),
                duration_seconds=attributes.get(CALL_DURATION_SECONDS),
                start_time=execution.start_time,
                close_time=execution.close_time,
            )
        )
    return CallList(query=query, calls=calls)


def _turns(turns: list[Any]) -> list[TurnView]:
    return [
        TurnView(
            sequence=t.sequence,
            caller_text=t.caller_text,
            agent_text=t.agent_text,
            agent=t.agent,
            interrupted=t.interrupted,
        )
        for t in turns
    ]


def _from_state(state: CallState, *, running: bool) -> CallDetail:
    return CallDetail(
        source="workflow",
        workflow_id=state.workflow_id,
        running=running,
        status=str(state.status),
        caller=state.caller,
        callee=state.callee,
        current_agent=state.current_agent,
        claim_id=state.claim_id,
        started_at=state.started_at,
        ended_at=state.ended_at,
        end_reason=state.end_reason,
        turns=_turns(state.turns),
        summary=state.summary.text if state.summary is not None else "",
        state=json.loads(json.dumps(asdict(state), default=str)),
    )


def _from_record(record: CallRecord) -> CallDetail:
    return CallDetail(
        source="archive",
        workflow_id=record.workflow_id,
        running=False,
        status=record.status,
        caller=record.caller,
        callee=record.callee,
        current_agent=record.agents[-1] if record.agents else "",
        claim_id=record.claim_id,
        started_at=record.started_at,
        ended_at=record.ended_at,
        end_reason=record.end_reason,
        turns=_turns(record.turns),
        summary=record.summary,
        content_hash=record.content_hash,
        record_verified=verify(record),
        record=record_to_document(record),
    )


async def _is_running(temporal: Client, workflow_id: str) -> bool:
    try:
        description = await temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="call_not_found") from err
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


@router.post(
    "/outbound",
    response_model=OutboundCallAck,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Staff action: place an outbound call (a new outbound CallWorkflow)",
)
async def place_outbound_call(
    body: OutboundCallBody, temporal: TemporalClientDep, settings: SettingsDep, principal: CurrentStaff
) -> OutboundCallAck:
    """ACS dials `callee`; its callbacks carry the correlation id chosen here. With `request_id` a
    retried request finds the call already placed and starts nothing new."""
    correlation_id = f"outbound-{body.request_id or uuid.uuid4().hex}"
    workflow_id = call_workflow_id(correlation_id)
    try:
        await temporal.start_workflow(
            CallWorkflow.run,
            CallInput(
                correlation_id=correlation_id,
                incoming_call_context="",
                caller=body.caller_id or settings.claims.outbound_caller_id,
                callee=body.callee,
                direction="outbound",
                agent=body.agent,
            ),
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # that request id's call was placed and has ended: nothing new
    return OutboundCallAck(
        workflow_id=workflow_id,
        correlation_id=correlation_id,
        callee=body.callee,
        agent=body.agent,
        requested_by=principal.name,
    )


@router.get("/{workflow_id}", response_model=CallDetail, summary="One call's state and transcript")
async def get_call(
    workflow_id: str,
    temporal: TemporalClientDep,
    archive: ArchiveDep,
    _: CurrentReader,
) -> CallDetail:
    """While the call runs: its workflow's `state` query. After: the archived record (sealed, with
    its hash checked); a finished call that was never archived falls back to the query."""
    try:
        running = await _is_running(temporal, workflow_id)
    except HTTPException:
        record = await archive.get(workflow_id)  # past Temporal's retention, the archive still knows it
        if record is None:
            raise
        return _from_record(record)
    if not running:
        record = await archive.get(workflow_id)
        if record is not None:
            return _from_record(record)
    handle = temporal.get_workflow_handle_for(CallWorkflow.run, workflow_id)
    state = await handle.query(CallWorkflow.state)
    return _from_state(state, running=running)


@router.post(
    "/{workflow_id}/hang-up",
    response_model=HangUpAck,
    summary="Staff action: hang up a live call (the workflow's hang_up update)",
    responses={404: {"description": "call_not_found"}, 409: {"description": "call_not_running / hang_up_rejected"}},
)
async def hang_up_call(
    workflow_id: str, body: HangUpBody, temporal: TemporalClientDep, principal: CurrentStaff
) -> HangUpAck:
    result = await _staff_update(
        temporal,
        workflow_id,
        CallWorkflow.hang_up,
        HangUpRequest(reason=body.reason, requested_by="staff"),
        rejected="hang_up_rejected",
    )
    return HangUpAck(
        workflow_id=workflow_id, accepted=result.accepted, status=result.status, requested_by=principal.name
    )


@router.post(
    "/{workflow_id}/transfer",
    response_model=TransferAck,
    summary="Staff action: transfer a live call to a person (the workflow's request_transfer update)",
    responses={404: {"description": "call_not_found"}, 409: {"description": "call_not_running / transfer_rejected"}},
)
async def transfer_call(
    workflow_id: str, body: TransferBody, temporal: TemporalClientDep, principal: CurrentStaff
) -> TransferAck:
    """Answers once ACS says how it went: `accepted` (the call is the person's now) or not (the
    conversation goes on). Refused by the workflow (not connected, ended, a transfer in flight): 409."""
    result = await _staff_update(
        temporal,
        workflow_id,
        CallWorkflow.request_transfer,
        TransferRequest(target=body.target, reason=body.reason, requested_by="staff"),
        rejected="transfer_rejected",
    )
    return TransferAck(
        workflow_id=workflow_id,
        accepted=result.accepted,
        status=result.status,
        target=result.target or body.target,
        reason=result.reason,
        requested_by=principal.name,
    )


UpdateInput = TypeVar("UpdateInput")
UpdateOutput = TypeVar("UpdateOutput")


async def _staff_update(
    temporal: Client,
    workflow_id: str,
    update: UpdateMethodMultiParam[[CallWorkflow, UpdateInput], UpdateOutput],
    request: UpdateInput,
    *,
    rejected: str,
) -> UpdateOutput:
    """A staff action as the call workflow's update: a call that is not running (or finishes
    meanwhile) is 409 `call_not_running`; one the workflow's validator refuses is 409 `rejected`."""
    if not await _is_running(temporal, workflow_id):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="call_not_running")
    handle = temporal.get_workflow_handle_for(CallWorkflow.run, workflow_id)
    try:
        return await handle.execute_update(update, request)
    except WorkflowUpdateFailedError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=rejected) from err
    except RPCError as err:  # the workflow finished between the check and the update
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise HTTPException(status.HTTP_409_CONFLICT, detail="call_not_running") from err
        raise


# ---------------------------------------------------------------------------------------- live feed


def live_call_id(workflow_id: str) -> str:
    """The realtime worker publishes under ACS's correlation id; the workflow id is `call-<that>`."""
    return workflow_id.removeprefix("call-")


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


async def live_events(redis: Any, call_id: str, *, heartbeat_seconds: float = 15.0) -> AsyncIterator[bytes]:
    """Turns already published (the Redis list), then new ones as they come (the channel).

    Subscribes before reading the list so no turn falls between the two; repeats are dropped by
    turn sequence."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel_key(call_id))
    seen: set[int] = set()

    def fresh(message: str | bytes) -> str | None:
        text = message.decode() if isinstance(message, bytes) else message
        try:
            sequence = int(json.loads(text)["turn"]["sequence"])
        except (ValueError, KeyError, TypeError):
            return None
        if sequence in seen:
            return None
        seen.add(sequence)
        return text

    try:
        yield _sse("ready", json.dumps({"call_id": call_id}))
        for message in await redis.lrange(turns_key(call_id), 0, -1):
            if (text := fresh(message)) is not None:
                yield _sse("turn", text)
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=heartbeat_seconds)
            if message is None:
                yield b": keep-alive\n\n"
                continue
            if message.get("type") == "message" and (text := fresh(message["data"])) is not None:
                yield _sse("turn", text)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(pubsub.aclose())


@router.get(
    "/{workflow_id}/live",
    summary="Live transcript (Server-Sent Events: `ready`, then one `turn` event per finished turn)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_transcript(workflow_id: str, redis: RedisDep, _: CurrentReader) -> StreamingResponse:
    return StreamingResponse(
        live_events(redis, live_call_id(workflow_id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{workflow_id}/live-state",
    response_model=LiveStateView,
    summary="Live session state (Redis): which realtime worker holds the call, which agent",
    responses={404: {"description": "live_state_not_found"}, 503: {"description": "live_feed_unavailable"}},
)
async def live_state(workflow_id: str, redis: RedisDep, _: CurrentReader) -> LiveStateView:
    found = await read_live_state(redis, live_call_id(workflow_id))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="live_state_not_found")
    return LiveStateView(workflow_id=workflow_id, worker=found.worker, agent=found.agent, media=found.media)

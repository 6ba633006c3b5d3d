"""ACS webhooks: Event Grid (IncomingCall, RecordingFileStatusUpdated) and the per-call Call Automation
callbacks.

Both validate everything before they touch Temporal: a malformed, unknown or oversized delivery is
refused with a 4xx and starts or disturbs no workflow. Event Grid delivers at least once, so the
workflow id is derived from the call's correlation id and a redelivery starts nothing new.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import ValidationError
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.body import as_event_list, read_json_body
from api.deps import SettingsDep, TemporalClientDep
from api.schemas import (
    ACS_CALLBACK_TYPES,
    INCOMING_CALL,
    RECORDING_FILE_STATUS_UPDATED,
    RECORDING_SUBJECT,
    SUBSCRIPTION_VALIDATION,
    AcsCloudEvent,
    CallbackAck,
    EventGridEvent,
    IncomingCallAck,
    IncomingCallData,
    RecordingFileStatusData,
    SubscriptionValidationData,
)
from switchboard.media_token import verify_media_token
from workflows.call import CallWorkflow
from workflows.contracts import AcsEvent, CallInput, RecordingFileReady, call_workflow_id

logger = logging.getLogger(__name__)
# A recording id as it may stand in a visibility query (ACS's are base64).
SAFE_RECORDING_ID = re.compile(r"[A-Za-z0-9_\-=+/.:]+")
router = APIRouter(prefix="/api", tags=["acs webhooks"])


def _bad_request(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail=detail)


@router.post(
    "/events/eventgrid",
    response_model=IncomingCallAck | dict[str, str],
    summary="Event Grid webhook: subscription validation, IncomingCall and RecordingFileStatusUpdated",
)
async def event_grid(
    request: Request,
    settings: SettingsDep,
    temporal: TemporalClientDep,
    key: Annotated[str | None, Query(description="Shared secret, when one is configured")] = None,
) -> IncomingCallAck | dict[str, str]:
    expected_key = settings.api.eventgrid_key
    if expected_key is not None and not hmac.compare_digest(key or "", expected_key.get_secret_value()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="bad_eventgrid_key")
    raw_events = as_event_list(await read_json_body(request, max_bytes=settings.api.max_body_bytes))
    try:
        events = [EventGridEvent.model_validate(raw) for raw in raw_events]
    except ValidationError as err:
        raise _bad_request("invalid_event_grid_event") from err

    if len(events) == 1 and events[0].event_type == SUBSCRIPTION_VALIDATION:
        try:
            validation = SubscriptionValidationData.model_validate(events[0].data)
        except ValidationError as err:
            raise _bad_request("invalid_validation_event") from err
        logger.info("answered Event Grid subscription validation")
        return {"validationResponse": validation.validation_code}

    unknown = sorted({event.event_type for event in events} - {INCOMING_CALL, RECORDING_FILE_STATUS_UPDATED})
    if unknown:
        raise _bad_request("unsupported_event_type")
    try:
        calls = [IncomingCallData.model_validate(event.data) for event in events if event.event_type == INCOMING_CALL]
    except ValidationError as err:
        raise _bad_request("invalid_incoming_call") from err
    recordings = [_recording_file(event) for event in events if event.event_type == RECORDING_FILE_STATUS_UPDATED]

    started = [await _start_call(temporal, settings.temporal.task_queue, call) for call in calls]
    routed = [await _route_recording_file(temporal, call_id, ready) for call_id, ready in recordings]
    return IncomingCallAck(workflow_ids=started + routed)


def _recording_file(event: EventGridEvent) -> tuple[str, RecordingFileReady]:
    """The call (from the subject) and the file ACS published, validated before anything is signalled."""
    subject = RECORDING_SUBJECT.match(event.subject)
    if subject is None or not SAFE_RECORDING_ID.fullmatch(subject["recording_id"]):
        raise _bad_request("invalid_recording_subject")
    try:
        data = RecordingFileStatusData.model_validate(event.data)
    except ValidationError as err:
        raise _bad_request("invalid_recording_file_event") from err
    chunk = min(data.recording_storage_info.recording_chunks, key=lambda c: c.index)
    return subject["call_id"], RecordingFileReady(
        event_id=event.id,
        recording_id=subject["recording_id"],
        content_location=chunk.content_location,
        metadata_location=chunk.metadata_location or "",
        delete_location=chunk.delete_location or "",
        document_id=chunk.document_id,
        duration_ms=data.recording_duration_ms,
    )


async def _route_recording_file(temporal: TemporalClientDep, call_id: str, ready: RecordingFileReady) -> str:
    """Signal the call's workflow: by the call id in the subject (our correlation id), else by the
    `RecordingId` search attribute the workflow set when it started the recording. Unknown: 404,
    so Event Grid redelivers (and finally dead-letters) rather than the file being forgotten."""
    candidates = [call_workflow_id(call_id)]
    # The id was checked against SAFE_RECORDING_ID before anything started: safe in the query.
    async for execution in temporal.list_workflows(f"RecordingId = '{ready.recording_id}'", limit=5):
        candidates.append(execution.id)
    for workflow_id in dict.fromkeys(candidates):
        handle = temporal.get_workflow_handle_for(CallWorkflow.run, workflow_id)
        try:
            await handle.signal(CallWorkflow.recording_file_ready, ready)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        logger.info("recording %s of %s is ready", ready.recording_id, workflow_id)
        return workflow_id
    logger.warning("recording file %s matches no running call", ready.recording_id)
    raise HTTPException(status.HTTP_404_NOT_FOUND, detail="recording_call_not_found")


async def _start_call(temporal: TemporalClientDep, task_queue: str, call: IncomingCallData) -> str:
    workflow_id = call_workflow_id(call.correlation_id)
    call_input = CallInput(
        correlation_id=call.correlation_id,
        incoming_call_context=call.incoming_call_context,
        server_call_id=call.server_call_id,
        caller=call.from_.address(),
        callee=call.to.address(),
        caller_display_name=call.caller_display_name,
    )
    try:
        await temporal.start_workflow(
            CallWorkflow.run,
            call_input,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        logger.info("call %s already has a workflow (ended); redelivery ignored", workflow_id)
    return workflow_id


@router.post(
    "/acs/callbacks/{correlation_id}",
    response_model=CallbackAck,
    summary="ACS Call Automation callbacks (CloudEvents) for one call",
)
async def acs_callback(
    correlation_id: str,
    request: Request,
    settings: SettingsDep,
    temporal: TemporalClientDep,
    token: Annotated[str, Query(description="Per-call token from the callback URL")] = "",
) -> CallbackAck:
    secret = settings.acs.media_token_secret.get_secret_value()
    if not verify_media_token(correlation_id, token, secret=secret):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="bad_callback_token")
    raw_events = as_event_list(await read_json_body(request, max_bytes=settings.api.max_body_bytes))
    try:
        events = [AcsCloudEvent.model_validate(raw) for raw in raw_events]
    except ValidationError as err:
        raise _bad_request("invalid_cloud_event") from err
    if any(event.type not in ACS_CALLBACK_TYPES for event in events):
        raise _bad_request("unsupported_event_type")

    workflow_id = call_workflow_id(correlation_id)
    handle: WorkflowHandle[CallWorkflow, object] = temporal.get_workflow_handle_for(CallWorkflow.run, workflow_id)
    for event in events:
        try:
            await handle.signal(CallWorkflow.acs_event, _to_workflow_event(event))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise HTTPException(status.HTTP_404_NOT_FOUND, detail="call_not_found") from err
            raise
    return CallbackAck(accepted=len(events), workflow_id=workflow_id)


def _to_workflow_event(event: AcsCloudEvent) -> AcsEvent:
    result = event.data.result_information
    return AcsEvent(
        id=event.id,
        type=event.type,
        call_connection_id=event.data.call_connection_id,
        server_call_id=event.data.server_call_id,
        correlation_id=event.data.correlation_id,
        operation_context=event.data.operation_context or "",
        time=event.time,
        result_code=result.code if result else 0,
        result_sub_code=result.sub_code if result else 0,
        result_message=result.message if result else "",
    )

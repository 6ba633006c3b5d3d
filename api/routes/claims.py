"""Claims as the back office sees them: the archive's claim records and their follow-up events, and
staff actions on a claim's follow-up (a document received, an adjuster assigned: signals to its
`ClaimFollowUpWorkflow`)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.storage import ClaimFilter, verify
from activities.storage.records import record_to_document
from api.auth import CurrentReader, CurrentStaff
from api.deps import ArchiveDep, TemporalClientDep
from api.routes.calls import SAFE_VALUE
from workflows.claim_follow_up import ClaimFollowUpWorkflow
from workflows.contracts import AdjusterAssigned, ClaimFollowUpState, DocumentReceived, claim_follow_up_workflow_id

router = APIRouter(prefix="/claims", tags=["claims"])


class ClaimView(BaseModel):
    claim_id: str
    workflow_id: str = ""
    follow_up_workflow_id: str = ""
    caller: str = ""
    status: str = ""
    created_at: str = ""
    details: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    content_hash: str = ""
    record_verified: bool


class ClaimList(BaseModel):
    claims: list[ClaimView]


def _view(claim: Any) -> ClaimView:
    document = record_to_document(claim)
    return ClaimView(
        **{k: v for k, v in document.items() if k in ClaimView.model_fields}, record_verified=verify(claim)
    )


@router.get("", response_model=ClaimList, summary="List claims (archive)")
async def list_claims(
    archive: ArchiveDep,
    _: CurrentReader,
    caller: Annotated[str | None, Query(pattern=SAFE_VALUE)] = None,
    status_: Annotated[str | None, Query(alias="status", pattern=SAFE_VALUE)] = None,
    workflow_id: Annotated[str | None, Query(pattern=SAFE_VALUE)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ClaimList:
    claims = await archive.list_claims(ClaimFilter(caller=caller, status=status_, workflow_id=workflow_id, limit=limit))
    return ClaimList(claims=[_view(claim) for claim in claims])


@router.get("/{claim_id}", response_model=ClaimView, summary="One claim and its follow-up events (archive)")
async def get_claim(claim_id: str, archive: ArchiveDep, _: CurrentReader) -> ClaimView:
    claim = await archive.get_claim(claim_id)
    if claim is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="claim_not_found")
    return _view(claim)


# ------------------------------------------------------------------------------------ staff actions

FOLLOW_UP_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "claim_follow_up_not_found"},
    409: {"description": "claim_follow_up_not_running"},
}


class DocumentBody(BaseModel):
    document_id: str = Field(pattern=SAFE_VALUE)
    kind: str = Field(default="", max_length=64)


class AdjusterBody(BaseModel):
    adjuster: str = Field(min_length=1, max_length=128)


class FollowUpAck(BaseModel):
    claim_id: str
    follow_up_workflow_id: str
    signal: str
    requested_by: str


async def _running_follow_up(temporal: Client, claim_id: str) -> WorkflowHandle[Any, ClaimFollowUpState]:
    workflow_id = claim_follow_up_workflow_id(claim_id)
    handle = temporal.get_workflow_handle_for(ClaimFollowUpWorkflow.run, workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="claim_follow_up_not_found") from err
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="claim_follow_up_not_running")
    return handle


async def _signal(send: Awaitable[None]) -> None:
    try:
        await send
    except RPCError as err:  # closed between the check and the signal
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_409_CONFLICT, detail="claim_follow_up_not_running") from err
        raise


@router.post(
    "/{claim_id}/documents",
    response_model=FollowUpAck,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Staff action: a document arrived for the claim (signal to its follow-up)",
    responses=FOLLOW_UP_RESPONSES,
)
async def document_received(
    claim_id: str, body: DocumentBody, temporal: TemporalClientDep, principal: CurrentStaff
) -> FollowUpAck:
    handle = await _running_follow_up(temporal, claim_id)
    document = DocumentReceived(document_id=body.document_id, kind=body.kind)
    await _signal(handle.signal(ClaimFollowUpWorkflow.document_received, document))
    return FollowUpAck(
        claim_id=claim_id, follow_up_workflow_id=handle.id, signal="document_received", requested_by=principal.name
    )


@router.post(
    "/{claim_id}/adjuster",
    response_model=FollowUpAck,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Staff action: assign an adjuster to the claim (signal to its follow-up)",
    responses=FOLLOW_UP_RESPONSES,
)
async def adjuster_assigned(
    claim_id: str, body: AdjusterBody, temporal: TemporalClientDep, principal: CurrentStaff
) -> FollowUpAck:
    handle = await _running_follow_up(temporal, claim_id)
    assignment = AdjusterAssigned(adjuster=body.adjuster)
    await _signal(handle.signal(ClaimFollowUpWorkflow.adjuster_assigned, assignment))
    return FollowUpAck(
        claim_id=claim_id, follow_up_workflow_id=handle.id, signal="adjuster_assigned", requested_by=principal.name
    )

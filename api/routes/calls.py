"""Calls as the back office sees them: the workflow's live state."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from temporalio.service import RPCError, RPCStatusCode

from api.deps import TemporalClientDep
from workflows.call import CallWorkflow
from workflows.contracts import CallState

router = APIRouter(prefix="/calls", tags=["calls"])


@router.get("/{workflow_id}", response_model=CallState, summary="One call's state (workflow query)")
async def get_call(workflow_id: str, temporal: TemporalClientDep) -> CallState:
    handle = temporal.get_workflow_handle_for(CallWorkflow.run, workflow_id)
    try:
        return await handle.query(CallWorkflow.state)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="call_not_found") from err
        raise

"""Audit: a call's Temporal history and archived record, replayed and verified (auditor or admin)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel

from api.auth import CurrentAuditor
from api.deps import ArchiveDep, TemporalClientDep
from switchboard import audit

router = APIRouter(prefix="/audit", tags=["audit"])


class ReplayView(BaseModel):
    workflow_id: str
    verdict: Literal["ok", "nondeterministic", "failed"]
    error: str = ""
    error_type: str = ""
    events: int = 0


class VerifyView(BaseModel):
    workflow_id: str
    ok: bool
    stored_hash: str
    computed_hash: str


class ExportView(BaseModel):
    workflow_id: str
    run_id: str
    exported_at: str
    history: dict[str, Any]
    record: dict[str, Any] | None = None
    record_verified: bool | None = None
    replay: ReplayView | None = None
    notes: list[str] = []


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "call_not_found"}}


@router.get(
    "/calls/{workflow_id}/export",
    response_model=ExportView,
    responses=_NOT_FOUND,
    summary="Export a call: its Temporal history (as `temporal workflow show --output json`) and archived record",
)
async def export_call(
    workflow_id: str, temporal: TemporalClientDep, archive: ArchiveDep, _: CurrentAuditor, replay: bool = False
) -> ExportView:
    try:
        exported = await audit.export_call(temporal, archive, workflow_id, with_replay=replay)
    except audit.CallNotFoundError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="call_not_found") from err
    return ExportView.model_validate(asdict(exported))


@router.post(
    "/calls/{workflow_id}/replay",
    response_model=ReplayView,
    responses=_NOT_FOUND,
    summary="Replay a call's history against the current workflow code",
)
async def replay_call(workflow_id: str, temporal: TemporalClientDep, _: CurrentAuditor) -> ReplayView:
    try:
        history = await audit.fetch_history(temporal, workflow_id)
    except audit.CallNotFoundError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="call_not_found") from err
    return ReplayView.model_validate(asdict(await audit.replay(history)))


@router.post(
    "/replay",
    response_model=ReplayView,
    responses={422: {"description": "invalid_history"}},
    summary="Replay an uploaded history (`temporal workflow show --output json`, or an export)",
)
async def replay_uploaded(
    _: CurrentAuditor,
    history: Annotated[dict[str, Any], Body()],
    workflow_id: str = "uploaded",
) -> ReplayView:
    try:
        loaded = audit.load_history(history, workflow_id=workflow_id)
    except audit.HistoryFormatError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="invalid_history") from err
    return ReplayView.model_validate(asdict(await audit.replay(loaded)))


@router.get(
    "/calls/{workflow_id}/verify",
    response_model=VerifyView,
    responses={404: {"description": "record_not_found"}},
    summary="Verify an archived call record against its content hash",
)
async def verify_call(workflow_id: str, archive: ArchiveDep, _: CurrentAuditor) -> VerifyView:
    record = await archive.get(workflow_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="record_not_found")
    return VerifyView.model_validate(asdict(audit.verify_record(record)))

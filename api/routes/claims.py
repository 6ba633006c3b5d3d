"""Claims as the back office sees them: the archive's claim records and their follow-up events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from activities.storage import ClaimFilter, verify
from activities.storage.records import record_to_document
from api.auth import CurrentReader
from api.deps import ArchiveDep
from api.routes.calls import SAFE_VALUE

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

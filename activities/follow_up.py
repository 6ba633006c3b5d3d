"""Claim follow-up side effects: each event of a claim's follow-up goes into the claim's record in
the archive, once however often the activity runs (events carry an id the workflow derives)."""

from __future__ import annotations

from dataclasses import asdict, replace

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.storage import CallArchive
from workflows.contracts import RecordClaimEventInput


class FollowUpActivities:
    def __init__(self, archive: CallArchive) -> None:
        self._archive = archive

    @activity.defn(name="record_claim_event")
    async def record_claim_event(self, request: RecordClaimEventInput) -> None:
        claim = await self._archive.get_claim(request.claim_id)
        if claim is None:
            raise ApplicationError(f"claim {request.claim_id} not found", type="ClaimNotFound", non_retryable=True)
        event = asdict(request.event)
        event_id = event["detail"].get("id")
        if event_id and any(e.get("detail", {}).get("id") == event_id for e in claim.events):
            activity.logger.info("claim %s event %s already recorded", request.claim_id, event_id)
            return
        await self._archive.upsert_claim(
            replace(
                claim,
                events=[*claim.events, event],
                status=request.status or claim.status,
                follow_up_workflow_id=request.follow_up_workflow_id or claim.follow_up_workflow_id,
                content_hash="",
            )
        )
        activity.logger.info("claim %s: %s recorded", request.claim_id, request.event.kind)

"""The claims system, as activities: filing a first notice of loss exactly once.

The claim id is derived from the idempotency key the workflow gives (its own id and the tool), so a
retried activity or a duplicated update finds the claim it already filed instead of filing another.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.storage import CallArchive, ClaimRecord
from workflows.contracts import FileClaimInput, FileClaimResult, FollowUpPolicy

POLICY_NUMBER = re.compile(r"^[A-Z]{2}\d{6}$")
REQUIRED_FIELDS = ("policy_number", "date_of_loss", "description")


def claim_id_for(idempotency_key: str) -> str:
    """`CLM-` and eight digits: easy to read back to a caller, stable for the same key."""
    digest = int(hashlib.sha256(idempotency_key.encode()).hexdigest(), 16)
    return f"CLM-{digest % 10**8:08d}"


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidClaim", non_retryable=True)


def validate_claim_details(details: dict[str, object]) -> None:
    missing = [name for name in REQUIRED_FIELDS if not str(details.get(name) or "").strip()]
    if missing:
        raise _invalid(f"claim is missing {', '.join(missing)}")
    policy = str(details["policy_number"]).replace(" ", "").upper()
    if not POLICY_NUMBER.match(policy):
        raise _invalid(f"policy number {policy!r} is not two letters and six digits")
    try:
        loss_date = datetime.fromisoformat(str(details["date_of_loss"])).date()
    except ValueError as err:
        raise _invalid(f"date of loss {details['date_of_loss']!r} is not an ISO date") from err
    if loss_date > datetime.now(UTC).date():
        raise _invalid("date of loss is in the future")


class ClaimsActivities:
    def __init__(self, archive: CallArchive, *, follow_up: FollowUpPolicy | None = None) -> None:
        self._archive = archive
        self._follow_up = follow_up

    @activity.defn(name="file_claim")
    async def file_claim(self, request: FileClaimInput) -> FileClaimResult:
        validate_claim_details(request.details)
        claim_id = claim_id_for(request.idempotency_key)
        if await self._archive.get_claim(claim_id) is not None:
            activity.logger.info("claim %s already filed for %s", claim_id, request.idempotency_key)
            return FileClaimResult(claim_id=claim_id, created=False, follow_up=self._follow_up)
        details = dict(request.details)
        details["policy_number"] = str(details["policy_number"]).replace(" ", "").upper()
        await self._archive.upsert_claim(
            ClaimRecord(
                claim_id=claim_id,
                workflow_id=request.workflow_id,
                caller=request.caller,
                created_at=datetime.now(UTC).isoformat(),
                details=details,
            )
        )
        activity.logger.info("filed claim %s for %s", claim_id, request.workflow_id)
        return FileClaimResult(claim_id=claim_id, created=True, follow_up=self._follow_up)

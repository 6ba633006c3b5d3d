"""Post-call archival: the call's record of truth, written once however often the activity runs."""

from __future__ import annotations

from dataclasses import asdict

from temporalio import activity

from activities.storage import CallArchive, CallRecord, call_record_from_state
from workflows.contracts import ArchiveCallResult, CallState


def archive_record(state: CallState, *, redact_pii: bool = False) -> CallRecord:
    """The sealed record the archive keeps for a call's final state (what `archive_call` writes)."""
    return call_record_from_state(
        state,
        tool_calls=[asdict(call) for call in state.tool_calls],
        recording_location=state.recording_location,
        redact_pii=redact_pii,
    )


class ArchiveActivities:
    def __init__(self, archive: CallArchive, *, redact_pii: bool = False) -> None:
        self._archive = archive
        self._redact_pii = redact_pii

    @activity.defn(name="archive_call")
    async def archive_call(self, state: CallState) -> ArchiveCallResult:
        stored = await self._archive.upsert(archive_record(state, redact_pii=self._redact_pii))
        activity.logger.info("archived %s (%s, %s)", state.workflow_id, stored.outcome, stored.content_hash[:12])
        return ArchiveCallResult(
            workflow_id=state.workflow_id, content_hash=stored.content_hash, outcome=str(stored.outcome)
        )

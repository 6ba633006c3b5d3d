"""`ClaimFollowUpWorkflow`: the life of a filed claim after the call that filed it.

Wait for documents, an adjuster and closure (signals); on each reminder timer, remind the claimant
(a notification recorded on the claim) or, while documents are still missing, call them back (an
outbound `CallWorkflow`); escalate after N reminders; close on `claim_closed`. Timers and policy
come from the input (settings reach it through the `file_claim` result); a long history continues
as new with the state carried over, next reminder time included.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.follow_up import FollowUpActivities
    from workflows.call import CallWorkflow
    from workflows.contracts import (
        AdjusterAssigned,
        CallInput,
        ClaimClosed,
        ClaimFollowUpEvent,
        ClaimFollowUpInput,
        ClaimFollowUpState,
        DocumentReceived,
        RecordClaimEventInput,
        call_workflow_id,
        follow_up_correlation_id,
    )

CLAIM_ID = SearchAttributeKey.for_keyword("ClaimId")

OPEN = "open"
ESCALATED = "escalated"
CLOSED = "closed"
# Events kept in the workflow's own state across continue-as-new (the archive keeps them all).
KEPT_EVENTS = 100


@workflow.defn(name="ClaimFollowUpWorkflow")
class ClaimFollowUpWorkflow:
    @workflow.init
    def __init__(self, request: ClaimFollowUpInput) -> None:
        self._input = request
        self._state = request.state or ClaimFollowUpState(claim_id=request.claim_id)
        self._unrecorded: list[ClaimFollowUpEvent] = []
        self._events_this_run = 0
        self._close_requested = self._state.status == CLOSED

    # ------------------------------------------------------------------ the story of a claim

    @workflow.run
    async def run(self, request: ClaimFollowUpInput) -> ClaimFollowUpState:
        workflow.upsert_search_attributes([CLAIM_ID.value_set(request.claim_id)])
        if request.state is None:
            self._add_event("opened", {"call_workflow_id": request.call_workflow_id})
        deadline = self._next_deadline()
        while not self._close_requested:
            await self._record_pending()
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(
                        lambda: self._close_requested or bool(self._unrecorded), timeout=timedelta(seconds=remaining)
                    )
                except TimeoutError:
                    pass
                continue
            await self._remind()
            deadline = self._next_deadline()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._record_pending()
                self._state.runs += 1
                self._state.events = self._state.events[-KEPT_EVENTS:]
                workflow.continue_as_new(
                    ClaimFollowUpInput(
                        claim_id=request.claim_id,
                        caller=request.caller,
                        call_workflow_id=request.call_workflow_id,
                        details=request.details,
                        policy=request.policy,
                        state=self._state,
                    )
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._state.status = CLOSED
        self._state.next_reminder_at = ""
        await self._record_pending()
        return self._state

    async def _remind(self) -> None:
        number = self._state.reminders_sent + 1
        self._state.reminders_sent = number
        self._state.next_reminder_at = ""
        if not self._state.documents and self._input.caller:
            correlation_id = await self._place_follow_up_call(number)
            self._add_event(
                "follow_up_call", {"reminder": number, "call_workflow_id": call_workflow_id(correlation_id)}
            )
        else:
            self._add_event("reminder", {"reminder": number, "channel": "notification"})
        policy = self._input.policy
        if number >= policy.escalate_after_reminders and not self._state.escalated:
            self._state.escalated = True
            self._state.status = ESCALATED
            self._add_event("escalated", {"reminders": number})
        await self._record_pending()

    async def _place_follow_up_call(self, number: int) -> str:
        """An outbound call as its own `CallWorkflow`; ACS callbacks carry the correlation id we choose."""
        correlation_id = follow_up_correlation_id(self._input.claim_id, number)
        try:
            await workflow.start_child_workflow(
                CallWorkflow.run,
                CallInput(
                    correlation_id=correlation_id,
                    incoming_call_context="",
                    caller=self._input.policy.outbound_caller_id,
                    callee=self._input.caller,
                    direction="outbound",
                    agent=self._input.policy.outbound_agent,
                ),
                id=call_workflow_id(correlation_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("follow-up call %s already placed", correlation_id)
        self._state.follow_up_calls.append(call_workflow_id(correlation_id))
        return correlation_id

    async def _record_pending(self) -> None:
        while self._unrecorded:
            event = self._unrecorded[0]
            await workflow.execute_activity_method(
                FollowUpActivities.record_claim_event,
                RecordClaimEventInput(
                    claim_id=self._input.claim_id,
                    event=event,
                    status=self._state.status if event.kind != "closed" else CLOSED,
                    follow_up_workflow_id=workflow.info().workflow_id,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    maximum_interval=timedelta(seconds=30), non_retryable_error_types=["ClaimNotFound"]
                ),
            )
            self._unrecorded.pop(0)

    # ------------------------------------------------------------------ signals

    @workflow.signal
    def document_received(self, document: DocumentReceived) -> None:
        if self._close_requested or document.document_id in self._state.documents:
            return
        self._state.documents.append(document.document_id)
        self._add_event("document_received", {"document_id": document.document_id, "kind": document.kind})

    @workflow.signal
    def adjuster_assigned(self, assignment: AdjusterAssigned) -> None:
        if self._close_requested or assignment.adjuster == self._state.adjuster:
            return
        self._state.adjuster = assignment.adjuster
        self._add_event("adjuster_assigned", {"adjuster": assignment.adjuster})

    @workflow.signal
    def claim_closed(self, closed: ClaimClosed) -> None:
        if self._close_requested:
            return
        self._close_requested = True
        self._state.closed_reason = closed.reason
        self._add_event("closed", {"reason": closed.reason})

    # ------------------------------------------------------------------ queries

    @workflow.query
    def status(self) -> ClaimFollowUpState:
        return self._state

    # ------------------------------------------------------------------ helpers

    def _add_event(self, kind: str, detail: dict[str, object]) -> None:
        # The id makes recording idempotent: the same event is never added to the claim twice.
        event_id = f"{workflow.info().workflow_id}/{self._state.runs}/{len(self._state.events) + 1}"
        event = ClaimFollowUpEvent(kind=kind, at=workflow.now().isoformat(), detail={"id": event_id, **detail})
        self._state.events.append(event)
        self._unrecorded.append(event)
        self._events_this_run += 1

    def _next_deadline(self) -> datetime:
        if self._state.next_reminder_at:
            return datetime.fromisoformat(self._state.next_reminder_at)
        intervals = self._input.policy.reminder_intervals_seconds or [86400]
        interval = intervals[min(self._state.reminders_sent, len(intervals) - 1)]
        deadline = workflow.now() + timedelta(seconds=interval)
        self._state.next_reminder_at = deadline.isoformat()
        return deadline

    def _should_continue_as_new(self) -> bool:
        limit = self._input.policy.continue_as_new_after_events
        return workflow.info().is_continue_as_new_suggested() or (limit > 0 and self._events_this_run >= limit)

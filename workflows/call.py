"""`CallWorkflow`: the durable life of one call.

Answer, wait for ACS to connect, hold the call while the realtime worker converses (turns arrive
as signals), end on `CallDisconnected` or a hang-up, and report the final state. The workflow is
the record of the call; the realtime worker never waits on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeoutError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.acs import AcsActivities
    from activities.agents import AgentActivities
    from activities.appointments import (
        INVALID as INVALID_APPOINTMENT,
    )
    from activities.appointments import (
        SLOT_TAKEN,
        UNKNOWN_PATIENT,
        AppointmentActivities,
        BookAppointmentInput,
        FindSlotsInput,
    )
    from activities.archival import ArchiveActivities
    from activities.call_policy import CallPolicyActivities
    from activities.claims import ClaimsActivities
    from activities.policies import PolicyActivities, VerifyIdentityInput
    from activities.recording import (
        RecordingActivities,
        RecordingStarted,
        StartRecordingInput,
        StoredRecording,
        StoreRecordingInput,
    )
    from activities.recovery import RecoveryActivities
    from activities.summary import SummaryActivities
    from workflows.contracts import (
        AcsEvent,
        AgentScenario,
        AnswerCallInput,
        CallEnded,
        CallInput,
        CallPolicy,
        CallState,
        CallStatus,
        CallSummary,
        ClaimFollowUpInput,
        FileClaimInput,
        FollowUpPolicy,
        HandoffDecision,
        HandoffRecord,
        HandoffRequest,
        HangUpCallInput,
        HangUpRequest,
        HangUpResult,
        HoldMediaInput,
        MediaAttached,
        MediaHeld,
        PlaceCallInput,
        PlayTextInput,
        RecordingFileReady,
        RecoveredTurns,
        RecoverTurnsInput,
        RecoveryPolicy,
        RecoveryRecord,
        ToolCall,
        ToolCallRecord,
        ToolResult,
        TransferCallInput,
        TransferRecord,
        TransferRequest,
        TransferResult,
        Turn,
        call_workflow_id,
        claim_follow_up_workflow_id,
    )

CALLER_NUMBER = SearchAttributeKey.for_keyword("CallerNumber")
CALL_STATUS = SearchAttributeKey.for_keyword("CallStatus")
CURRENT_AGENT = SearchAttributeKey.for_keyword("CurrentAgent")
CLAIM_ID = SearchAttributeKey.for_keyword("ClaimId")
CALL_DURATION_SECONDS = SearchAttributeKey.for_int("CallDurationSeconds")
RECORDING_ID = SearchAttributeKey.for_keyword("RecordingId")


# Tools with side effects the workflow runs for the realtime brain, each as an activity.
DURABLE_TOOLS = frozenset({"file_claim", "verify_identity", "find_slots", "book_appointment"})
# Refusals of the clinic's diary: business answers, not worth a retry.
APPOINTMENT_REFUSALS = [SLOT_TAKEN, UNKNOWN_PATIENT, INVALID_APPOINTMENT]

CALL_CONNECTED = "Microsoft.Communication.CallConnected"
CALL_DISCONNECTED = "Microsoft.Communication.CallDisconnected"
CALL_TRANSFER_ACCEPTED = "Microsoft.Communication.CallTransferAccepted"
CALL_TRANSFER_FAILED = "Microsoft.Communication.CallTransferFailed"
CREATE_CALL_FAILED = "Microsoft.Communication.CreateCallFailed"
PLAY_COMPLETED = "Microsoft.Communication.PlayCompleted"
PLAY_FAILED = "Microsoft.Communication.PlayFailed"

# How long ACS may take between our answer and CallConnected before we give the call up.
CONNECT_TIMEOUT = timedelta(seconds=45)
# After we hang up, how long to wait for ACS's CallDisconnected before closing the record anyway.
DISCONNECT_GRACE = timedelta(seconds=15)
MEDIA_END_GRACE = timedelta(seconds=15)
# How long ACS may take to report a transfer's outcome (CallTransferAccepted / CallTransferFailed).
TRANSFER_OUTCOME_TIMEOUT = timedelta(seconds=60)
# The transfer's outcome event may trail the CallDisconnected of a transferred call.
TRANSFER_OUTCOME_GRACE = timedelta(seconds=5)
# How long a recovery apology played by ACS may take before we transfer or hang up anyway.
APOLOGY_TIMEOUT = timedelta(seconds=20)
ACS_CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=5,
    non_retryable_error_types=["AnswerCallFailed", "CallNotFound", "TransferFailed", "PlaceCallFailed"],
)


ActivityInput = TypeVar("ActivityInput")
ActivityOutput = TypeVar("ActivityOutput")


class ToolRefused(Exception):
    """A durable tool's activity failed: the tool answers with this result (already recorded)."""

    def __init__(self, result: ToolResult) -> None:
        super().__init__(result.error)
        self.result = result


def failure_message(err: ActivityError) -> str:
    """The business reason of a failed activity (its ApplicationError's message when it has one)."""
    cause = err.cause
    return str(cause.message if isinstance(cause, ApplicationError) else cause or err)


@workflow.defn(name="CallWorkflow")
class CallWorkflow:
    @workflow.init
    def __init__(self, call: CallInput) -> None:
        self._call = call
        self._state = CallState(
            workflow_id=workflow.info().workflow_id,
            correlation_id=call.correlation_id,
            status=CallStatus.RINGING,
            caller=call.caller,
            callee=call.callee,
            direction=call.direction,
            current_agent=call.agent,
            server_call_id=call.server_call_id,
        )
        self._seen_event_ids: set[str] = set()
        self._turn_sequences: set[int] = set()
        self._connected = False
        self._disconnected = False
        self._hang_up_requested = False
        self._claim_lock = asyncio.Lock()
        # One appointment per call: the first booking's result, returned to any later request.
        self._booking_lock = asyncio.Lock()
        self._booking: dict[str, object] | None = None
        # Transfers: the operation context in flight and each one's outcome event (type, message).
        self._transfer_in_flight = ""
        self._transfer_outcomes: dict[str, tuple[str, str]] = {}
        self._transferred = False
        self._scenario: AgentScenario | None = None
        # The media watchdog: where the session holding the media runs, and the recovery plan.
        self._recovery_policy: RecoveryPolicy | None = None
        self._media_task_queue = ""
        self._last_sequence = 0
        self._play_outcomes: dict[str, str] = {}
        self._call_policy: CallPolicy | None = None
        self._recovery_confirms = False
        self._recording_files: dict[str, RecordingFileReady] = {}

    # ------------------------------------------------------------------ the story of a call

    @workflow.run
    async def run(self, call: CallInput) -> CallState:
        self._state.started_at = workflow.now().isoformat()
        self._set_status(CallStatus.ANSWERING)

        if call.direction == "outbound":
            await self._place_call()
        else:
            await self._answer()
        if workflow.patched("agent-scenario"):
            # While ACS connects: which handoffs this call's agents may make.
            scenario: AgentScenario = await workflow.execute_activity_method(
                AgentActivities.agent_scenario, start_to_close_timeout=timedelta(seconds=10)
            )
            self._scenario = scenario
        if workflow.patched("media-watchdog"):
            # ...what to do if the realtime worker holding the call dies, and whether ACS records it.
            policy: CallPolicy = await workflow.execute_activity_method(
                CallPolicyActivities.call_policy, start_to_close_timeout=timedelta(seconds=10)
            )
            self._call_policy, self._recovery_policy = policy, policy.recovery
            # A heartbeat timeout is confirmed before the call is recovered (a Temporal outage or a
            # stalled worker also stops heartbeats).
            self._recovery_confirms = workflow.patched("media-watchdog-confirm")
        connected = await self._wait(lambda: self._connected or self._disconnected, CONNECT_TIMEOUT)
        if not connected:
            await self._hang_up_quietly()
            return await self._finish(CallStatus.FAILED, reason="connect_timeout")
        if self._call_policy is not None and self._call_policy.server_recording and not self._disconnected:
            await self._start_server_recording()

        if self._recovery_policy is None:
            await workflow.wait_condition(self._call_over)
        else:
            await self._hold_call(self._recovery_policy)
        if not self._disconnected:
            # We hung up; ACS confirms with CallDisconnected. Do not wait forever for it.
            await self._wait(lambda: self._disconnected, DISCONNECT_GRACE)
        if self._state.recovery is not None:
            return await self._finish(CallStatus.RECOVERED, reason=f"recovered:{self._state.recovery.outcome}")
        if self._transferred:
            return await self._finish(CallStatus.TRANSFERRED, reason="transferred")
        return await self._finish(CallStatus.COMPLETED, reason="disconnected")

    def _call_over(self) -> bool:
        return self._disconnected or self._hang_up_requested

    async def _place_call(self) -> None:
        """An outbound call (a claim follow-up or a callback): ACS dials `callee` and calls back with
        our correlation id. A callback booked for later waits first, on a durable timer."""
        if self._call.dial_after_seconds > 0:
            await workflow.sleep(timedelta(seconds=self._call.dial_after_seconds))
        try:
            placed = await workflow.execute_activity_method(
                AcsActivities.place_call,
                PlaceCallInput(
                    workflow_id=self._state.workflow_id,
                    correlation_id=self._call.correlation_id,
                    target=self._call.callee,
                    source_caller_id=self._call.caller,
                    operation_context=f"place:{self._state.workflow_id}",
                    agent=self._call.agent,
                ),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=ACS_CALL_RETRY,
            )
        except ActivityError as err:
            await self._fail(err, reason="place_call_failed", failure_type="PlaceCallFailed", doing="placing")
        self._state.call_connection_id = placed.call_connection_id
        self._state.server_call_id = placed.server_call_id or self._state.server_call_id

    async def _answer(self) -> None:
        try:
            answered = await workflow.execute_activity_method(
                AcsActivities.answer_call,
                AnswerCallInput(
                    workflow_id=self._state.workflow_id,
                    incoming_call_context=self._call.incoming_call_context,
                    correlation_id=self._call.correlation_id,
                    operation_context=f"answer:{self._state.workflow_id}",
                ),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=ACS_CALL_RETRY,
            )
        except ActivityError as err:
            await self._fail(err, reason="answer_failed", failure_type="AnswerCallFailed", doing="answering")
        self._state.call_connection_id = answered.call_connection_id
        self._state.server_call_id = answered.server_call_id or self._state.server_call_id
        self._state.answered_at = workflow.now().isoformat()

    async def _fail(self, err: ActivityError, *, reason: str, failure_type: str, doing: str) -> NoReturn:
        """Close the record of a call ACS would not set up, then fail the workflow with a typed error."""
        message = failure_message(err)
        self._state.failure = message
        await self._finish(CallStatus.FAILED, reason=reason)
        raise ApplicationError(
            f"{doing} call {self._call.correlation_id} failed: {message}", type=failure_type, non_retryable=True
        ) from err

    async def _finish(self, status: CallStatus, *, reason: str) -> CallState:
        self._state.end_reason = self._state.end_reason or reason
        self._state.ended_at = self._state.ended_at or workflow.now().isoformat()
        media_expected = self._connected and not self._state.media_ended_reason
        if media_expected and workflow.patched("await-media-end"):
            # The realtime worker's last turns and its `call_ended` (with the recording's location)
            # may still be on their way. (Only once `media_attached` has come: before it,
            # `media_active` is still false and this does not wait.)
            await self._wait(lambda: not self._state.media_active, MEDIA_END_GRACE)
        if self._turns_missing() and workflow.patched("recover-missing-turns"):
            # A turn the worker finished but whose signal never came (its queue overflowed while
            # Temporal was away): the live transcript in Redis still has it.
            await self._recover_turns()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._state.turns and workflow.patched("call-summary"):
            await self._summarize(status)
        self._set_status(status)
        await self._archive()
        if self._state.server_recording_id and self._call_policy is not None:
            # ACS publishes the recording's file after the call; the record is archived again with it.
            if await self._store_server_recording(self._call_policy):
                await self._archive()
        return self._state

    async def _start_server_recording(self) -> None:
        """ACS records the call (mixed audio WAV). Not fatal: the call goes on unrecorded by ACS."""
        if not self._state.server_call_id:
            workflow.logger.warning("no server call id for %s; ACS recording not started", self._state.workflow_id)
            return
        try:
            started: RecordingStarted = await workflow.execute_activity_method(
                RecordingActivities.start_recording,
                StartRecordingInput(workflow_id=self._state.workflow_id, server_call_id=self._state.server_call_id),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=["StartRecordingFailed"]),
            )
        except ActivityError as err:
            workflow.logger.warning(
                "ACS recording of %s not started: %s", self._state.workflow_id, failure_message(err)
            )
            return
        self._state.server_recording_id = started.recording_id
        workflow.upsert_search_attributes([RECORDING_ID.value_set(started.recording_id)])

    async def _store_server_recording(self, policy: CallPolicy) -> bool:
        """Wait (bounded) for ACS's RecordingFileStatusUpdated, then copy the file to our blob store."""
        recording_id = self._state.server_recording_id
        timeout = timedelta(seconds=policy.recording_file_timeout_seconds)
        if not await self._wait(lambda: recording_id in self._recording_files, timeout):
            workflow.logger.warning("no recording file from ACS for %s within %s", recording_id, timeout)
            return False
        ready = self._recording_files[recording_id]
        try:
            stored: StoredRecording = await workflow.execute_activity_method(
                RecordingActivities.store_recording,
                StoreRecordingInput(
                    workflow_id=self._state.workflow_id,
                    recording_id=recording_id,
                    content_location=ready.content_location,
                    metadata_location=ready.metadata_location,
                    delete_location=ready.delete_location,
                    document_id=ready.document_id,
                ),
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10),
            )
        except ActivityError as err:
            workflow.logger.warning("ACS recording %s not stored: %s", recording_id, failure_message(err))
            return False
        self._state.server_recording_location = stored.location
        return True

    async def _summarize(self, status: CallStatus) -> None:
        """The summary staff read first, of the call as it ended (`status` is set just after); a call
        is archived without one if it cannot be written."""
        try:
            summary: CallSummary = await workflow.execute_activity_method(
                SummaryActivities.summarize_call,
                replace(self._state, status=str(status)),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["SummaryUnavailable"]),
            )
        except ActivityError as err:
            workflow.logger.warning("no summary for %s: %s", self._state.workflow_id, failure_message(err))
            return
        self._state.summary = summary

    async def _archive(self) -> None:
        """The call's record in the archive: an idempotent upsert keyed by workflow id."""
        archived = await workflow.execute_activity_method(
            ArchiveActivities.archive_call,
            self._state,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        self._state.archive_hash = archived.content_hash

    async def _hang_up_quietly(self) -> None:
        if not self._state.call_connection_id:
            return
        try:
            await workflow.execute_activity_method(
                AcsActivities.hang_up,
                HangUpCallInput(call_connection_id=self._state.call_connection_id),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=ACS_CALL_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("hang-up of %s failed: %s", self._state.call_connection_id, err)

    # ------------------------------------------------------------------ the media watchdog

    async def _hold_call(self, policy: RecoveryPolicy) -> None:
        """Hold the call until it ends, watching the realtime worker that holds its media: each
        media session gets a heartbeating watchdog activity on that worker's own task queue.

        Heartbeats also stop when Temporal itself is away for longer than the timeout, or the worker
        stalls, so a heartbeat timeout is only a suspicion: the watchdog is armed again with a short
        schedule-to-start window, which a live worker meets at once. A worker that does not pick
        it up (or never picked up the first one) is gone, and the call is recovered."""
        watched = ""
        suspected = ""  # the heartbeat timeout being confirmed, if any
        watch: workflow.ActivityHandle[MediaHeld] | None = None

        def woken() -> bool:
            new_session = bool(self._media_task_queue) and self._state.media_session_id not in ("", watched)
            return self._call_over() or new_session or (watch is not None and watch.done())

        def arm(schedule_to_start_seconds: float) -> workflow.ActivityHandle[MediaHeld]:
            # By name: it runs in the realtime worker process (`realtime.watchdog`).
            return workflow.start_activity(
                "hold_media_session",
                HoldMediaInput(
                    workflow_id=self._state.workflow_id,
                    session_id=watched,
                    heartbeat_seconds=max(0.2, policy.heartbeat_timeout_seconds / 5),
                ),
                task_queue=self._media_task_queue,
                schedule_to_start_timeout=timedelta(seconds=schedule_to_start_seconds),
                start_to_close_timeout=timedelta(seconds=policy.max_call_seconds),
                heartbeat_timeout=timedelta(seconds=policy.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(maximum_attempts=1),
                result_type=MediaHeld,
            )

        try:
            while True:
                await workflow.wait_condition(woken)
                if self._call_over():
                    return
                if watch is not None and watch.done():
                    cause = self._media_lost(watch)
                    watch = None
                    if not (cause and watched == self._state.media_session_id and self._state.media_active):
                        suspected = ""
                        continue
                    if cause == "heartbeat_timeout" and self._recovery_confirms:
                        suspected = cause  # picked up again (alive) or not (gone): the next round tells
                        watch = arm(policy.confirm_seconds)
                        continue
                    await self._recover(policy, suspected or cause)
                    return
                if watch is not None:
                    watch.cancel()  # a newer session replaced the watched one
                watched, suspected = self._state.media_session_id, ""
                watch = arm(policy.schedule_to_start_seconds)
        finally:
            if watch is not None and not watch.done():
                watch.cancel()

    @staticmethod
    def _media_lost(watch: workflow.ActivityHandle[MediaHeld]) -> str:
        """Why a finished watchdog means the worker is gone ("" when it does not)."""
        if watch.cancelled() or watch.exception() is None:
            return ""
        error = watch.exception()
        cause = error.cause if isinstance(error, ActivityError) else error
        if isinstance(cause, TemporalTimeoutError):
            return f"{cause.type.name.lower() if cause.type else 'timeout'}_timeout"
        return f"watchdog_failed: {cause}"

    async def _recover(self, policy: RecoveryPolicy, cause: str) -> None:
        """The worker holding the media died mid-call: keep every turn it finished, apologise
        through ACS, then hand the caller to people, or hang up and call back later."""
        record = RecoveryRecord(
            at=workflow.now().isoformat(),
            cause=cause,
            lost_worker_id=self._state.media_worker_id,
            lost_session_id=self._state.media_session_id,
            action=policy.action,
        )
        self._state.recovery = record
        self._state.media_active = False
        self._state.media_ended_reason = "worker_lost"
        self._set_status(CallStatus.RECOVERING)
        workflow.logger.warning("media worker %s lost (%s); recovering the call", record.lost_worker_id, cause)
        record.turns_recovered = await self._recover_turns()

        if policy.action == "transfer" and not self._call_over():
            await self._say(policy.apology, policy.voice, "recovery-apology")
            transfer = TransferRecord(
                target=policy.transfer_target,
                requested_by="system",
                reason=f"media worker lost ({cause})",
                operation_context=f"transfer:{self._state.workflow_id}:{len(self._state.transfers) + 1}",
                at=workflow.now().isoformat(),
            )
            self._state.transfers.append(transfer)
            self._transfer_in_flight = transfer.operation_context
            try:
                result = await self._transfer(transfer)
            finally:
                self._transfer_in_flight = ""
            if result.accepted:
                record.outcome, record.detail = "transferred", transfer.target
                return
            record.detail = f"transfer {transfer.outcome}: {transfer.detail}"
        if self._disconnected:
            record.outcome = "call_ended"
            return
        await self._say(policy.callback_apology, policy.voice, "recovery-callback")
        self._hang_up_requested = True
        await self._hang_up_quietly()
        record.outcome = "hung_up"
        if self._state.caller and self._call.direction == "inbound":
            record.callback_workflow_id = await self._book_callback(policy)
            record.outcome = "callback_scheduled"

    async def _say(self, text: str, voice: str, purpose: str) -> None:
        """A line spoken by ACS itself, waited for (bounded) so a transfer does not cut it off."""
        if not text or self._call_over():
            return
        context = f"{purpose}:{self._state.workflow_id}"
        try:
            await workflow.execute_activity_method(
                AcsActivities.play_text,
                PlayTextInput(
                    call_connection_id=self._state.call_connection_id, text=text, operation_context=context, voice=voice
                ),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=ACS_CALL_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("could not play %s: %s", purpose, failure_message(err))
            return
        await self._wait(lambda: context in self._play_outcomes or self._disconnected, APOLOGY_TIMEOUT)

    async def _book_callback(self, policy: RecoveryPolicy) -> str:
        """An outbound call back to the caller later, as its own `CallWorkflow` (outlives this one)."""
        correlation_id = f"{self._call.correlation_id}-callback"
        workflow_id = call_workflow_id(correlation_id)
        agent = policy.callback_agent or (self._scenario.entry if self._scenario else self._state.current_agent)
        try:
            await workflow.start_child_workflow(
                "CallWorkflow",
                CallInput(
                    correlation_id=correlation_id,
                    incoming_call_context="",
                    caller=policy.callback_caller_id,
                    callee=self._state.caller,
                    direction="outbound",
                    agent=agent,
                    dial_after_seconds=policy.callback_delay_seconds,
                ),
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("callback %s already booked", workflow_id)
        return workflow_id

    def _turns_missing(self) -> bool:
        """Whether some turn the worker reported finishing (by sequence) never arrived."""
        if not self._turn_sequences and not self._last_sequence:
            return False
        highest = max([self._last_sequence, *self._turn_sequences])
        return len(self._turn_sequences) < highest

    async def _recover_turns(self) -> int:
        """Turns published to the live transcript (Redis) that never reached us as signals."""
        try:
            recovered: RecoveredTurns = await workflow.execute_activity_method(
                RecoveryActivities.recover_turns,
                RecoverTurnsInput(
                    correlation_id=self._call.correlation_id, known_sequences=sorted(self._turn_sequences)
                ),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=5)),
            )
        except ActivityError as err:
            workflow.logger.warning("no turns recovered from the live transcript: %s", failure_message(err))
            return 0
        return sum(1 for turn in recovered.turns if self._add_turn(turn))

    # ------------------------------------------------------------------ signals

    @workflow.signal
    def acs_event(self, event: AcsEvent) -> None:
        if event.id in self._seen_event_ids:
            return
        self._seen_event_ids.add(event.id)
        self._state.events_seen = len(self._seen_event_ids)
        if event.type == CALL_CONNECTED and not self._connected:
            self._connected = True
            self._state.connected_at = workflow.now().isoformat()
            if event.call_connection_id:
                self._state.call_connection_id = event.call_connection_id
            if event.server_call_id and not self._state.server_call_id:
                self._state.server_call_id = event.server_call_id
            if self._state.status == CallStatus.ANSWERING:
                self._set_status(CallStatus.CONNECTED)
        elif event.type == CALL_DISCONNECTED:
            self._disconnected = True
            self._state.end_reason = self._state.end_reason or "disconnected"
        elif event.type == CREATE_CALL_FAILED:
            self._disconnected = True
            self._state.failure = event.result_message
            self._state.end_reason = self._state.end_reason or "create_call_failed"
        elif event.type in (CALL_TRANSFER_ACCEPTED, CALL_TRANSFER_FAILED):
            self._transfer_outcomes[event.operation_context] = (event.type, event.result_message)
            if event.type == CALL_TRANSFER_ACCEPTED:
                self._transferred = True
        elif event.type in (PLAY_COMPLETED, PLAY_FAILED):
            self._play_outcomes[event.operation_context] = event.type

    @workflow.signal
    def recording_file_ready(self, event: RecordingFileReady) -> None:
        if event.event_id in self._seen_event_ids:
            return
        self._seen_event_ids.add(event.event_id)
        self._recording_files.setdefault(event.recording_id, event)

    @workflow.signal
    def media_attached(self, event: MediaAttached) -> None:
        if self._state.recovery is not None:
            return  # the call was recovered without its media; a late attach changes nothing
        self._state.media_worker_id = event.worker_id
        self._state.media_session_id = event.session_id
        self._media_task_queue = event.task_queue
        self._state.media_active = True

    @workflow.signal
    def turn_completed(self, turn: Turn) -> None:
        self._add_turn(turn)

    def _add_turn(self, turn: Turn) -> bool:
        if turn.sequence in self._turn_sequences:
            return False
        self._turn_sequences.add(turn.sequence)
        if (
            turn.agent
            and self._call.direction == "inbound"
            and not self._state.turns
            and not self._state.handoffs
            and workflow.patched("first-agent")
        ):
            # An inbound call is greeted by the realtime worker's entry agent, which the workflow
            # learns from the first turn; handoffs are judged from that one. An outbound call opens
            # with the agent the workflow chose (passed in the transport URL).
            self._state.current_agent = turn.agent
        self._state.turns.append(turn)
        self._state.turns.sort(key=lambda t: t.sequence)
        return True

    @workflow.signal
    def call_ended(self, event: CallEnded) -> None:
        # A stale session's end (an older worker) must not mark the current one gone.
        if event.worker_id in ("", self._state.media_worker_id):
            self._state.media_active = False
            self._state.media_ended_reason = self._state.media_ended_reason or event.reason
            self._last_sequence = max(self._last_sequence, event.last_sequence)
        if event.recording_location:
            self._state.recording_location = event.recording_location

    # ------------------------------------------------------------------ updates

    @workflow.update
    async def hang_up(self, request: HangUpRequest) -> HangUpResult:
        if self._hang_up_requested:
            return HangUpResult(accepted=True, status=self._state.status)
        self._hang_up_requested = True
        self._state.end_reason = f"hang_up:{request.requested_by}:{request.reason}"
        self._set_status(CallStatus.ENDING)
        await workflow.execute_activity_method(
            AcsActivities.hang_up,
            HangUpCallInput(call_connection_id=self._state.call_connection_id),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=ACS_CALL_RETRY,
        )
        return HangUpResult(accepted=True, status=self._state.status)

    @hang_up.validator
    def _validate_hang_up(self, request: HangUpRequest) -> None:
        if not self._state.call_connection_id:
            raise ValueError("call is not answered yet")
        if self._disconnected:
            raise ValueError("call has already ended")

    @workflow.update
    async def request_transfer(self, request: TransferRequest) -> TransferResult:
        """Transfer the caller to a person. Accepted: the call is theirs now and ends for us as
        `transferred`. Refused or failed: the conversation goes on."""
        context = f"transfer:{self._state.workflow_id}:{len(self._state.transfers) + 1}"
        record = TransferRecord(
            target=request.target,
            requested_by=request.requested_by,
            reason=request.reason,
            operation_context=context,
            at=workflow.now().isoformat(),
        )
        self._state.transfers.append(record)
        self._transfer_in_flight = context
        try:
            return await self._transfer(record)
        finally:
            self._transfer_in_flight = ""

    @request_transfer.validator
    def _validate_request_transfer(self, request: TransferRequest) -> None:
        if not self._connected or not self._state.call_connection_id:
            raise ValueError("call is not connected")
        if self._disconnected or self._hang_up_requested or self._transferred:
            raise ValueError("call has already ended")
        if self._transfer_in_flight:
            raise ValueError("a transfer is already in progress")

    async def _transfer(self, record: TransferRecord) -> TransferResult:
        try:
            requested = await workflow.execute_activity_method(
                AcsActivities.transfer_call,
                TransferCallInput(
                    call_connection_id=self._state.call_connection_id,
                    target=record.target,
                    operation_context=record.operation_context,
                ),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=ACS_CALL_RETRY,
            )
        except ActivityError as err:
            record.outcome = "error"
            record.detail = failure_message(err)
            return self._transfer_result(record)
        record.target = requested.target_number or record.target
        context = record.operation_context
        await self._wait(lambda: context in self._transfer_outcomes or self._disconnected, TRANSFER_OUTCOME_TIMEOUT)
        if context not in self._transfer_outcomes and self._disconnected:
            await self._wait(lambda: context in self._transfer_outcomes, TRANSFER_OUTCOME_GRACE)
        outcome = self._transfer_outcomes.get(context)
        if outcome is None:
            record.outcome = "timeout" if not self._disconnected else "call_ended"
            record.detail = "no transfer outcome from ACS"
        elif outcome[0] == CALL_TRANSFER_ACCEPTED:
            record.outcome = "accepted"
            record.detail = outcome[1]
            self._state.end_reason = f"transferred:{record.target}"
        else:
            record.outcome = "failed"
            record.detail = outcome[1] or "transfer failed"
        return self._transfer_result(record)

    def _transfer_result(self, record: TransferRecord) -> TransferResult:
        accepted = record.outcome == "accepted"
        return TransferResult(
            accepted=accepted,
            status=str(CallStatus.TRANSFERRED if accepted else self._state.status),
            target=record.target,
            reason=record.detail,
        )

    @workflow.update
    def request_handoff(self, request: HandoffRequest) -> HandoffDecision:
        """Another agent takes the conversation over, if the scenario graph allows the edge."""
        previous = self._state.current_agent
        self._state.handoffs.append(
            HandoffRecord(
                from_agent=previous,
                to_agent=request.target_agent,
                reason=request.reason,
                requested_by=request.requested_by,
                at=workflow.now().isoformat(),
            )
        )
        self._state.current_agent = request.target_agent
        self._set_status(CallStatus(self._state.status))
        return HandoffDecision(accepted=True, agent=request.target_agent, previous_agent=previous)

    @request_handoff.validator
    def _validate_request_handoff(self, request: HandoffRequest) -> None:
        if not self._connected:
            raise ValueError("call is not connected")
        if self._disconnected or self._hang_up_requested or self._transferred:
            raise ValueError("call has already ended")
        if self._transfer_in_flight:
            raise ValueError("a transfer is in progress")
        if self._scenario is None:
            raise ValueError("no agent scenario for this call")
        current = self._state.current_agent
        if request.target_agent == current:
            raise ValueError(f"{current!r} is already the agent")
        if request.target_agent not in self._scenario.handoffs.get(current, []):
            raise ValueError(f"handoff from {current!r} to {request.target_agent!r} is not allowed")

    @workflow.update
    async def run_tool(self, call: ToolCall) -> ToolResult:
        tools = {
            "file_claim": self._file_claim,
            "verify_identity": self._verify_identity,
            "find_slots": self._find_slots,
            "book_appointment": self._book_appointment,
        }
        run = tools.get(call.name)
        if run is None:
            return ToolResult(ok=False, error=f"unknown tool {call.name!r}")
        try:
            return await run(call)
        except ToolRefused as refused:
            return refused.result

    @run_tool.validator
    def _validate_run_tool(self, call: ToolCall) -> None:
        if call.name not in DURABLE_TOOLS:
            raise ValueError(f"unknown durable tool {call.name!r}")
        if self._disconnected:
            raise ValueError("call has already ended")

    async def _file_claim(self, call: ToolCall) -> ToolResult:
        # One claim per call: a duplicated or retried update finds the claim already filed.
        async with self._claim_lock:
            if self._state.claim_id:
                return ToolResult(ok=True, result={"claim_id": self._state.claim_id, "created": False})
            key = f"{self._state.workflow_id}/file_claim"
            filed = await self._tool_activity(
                call,
                key,
                ClaimsActivities.file_claim,
                FileClaimInput(
                    idempotency_key=key,
                    workflow_id=self._state.workflow_id,
                    caller=self._state.caller,
                    details=dict(call.arguments),
                ),
                timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=["InvalidClaim"]),
            )
            self._state.claim_id = filed.claim_id
            self._set_status(CallStatus(self._state.status))
            if filed.follow_up is not None and workflow.patched("claim-follow-up"):
                await self._start_follow_up(filed.claim_id, dict(call.arguments), filed.follow_up)
            result = {"claim_id": filed.claim_id, "created": filed.created}
            return self._record_tool(call, result, ok=True, key=key)

    async def _verify_identity(self, call: ToolCall) -> ToolResult:
        """Read-only: the policy register says whether the policy number and postcode match."""
        key = f"{self._state.workflow_id}/verify_identity/{len(self._state.tool_calls) + 1}"
        checked = await self._tool_activity(
            call,
            key,
            PolicyActivities.verify_identity,
            VerifyIdentityInput(
                policy_number=str(call.arguments.get("policy_number") or ""),
                postcode=str(call.arguments.get("postcode") or ""),
                workflow_id=self._state.workflow_id,
            ),
            timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        result: dict[str, object] = {
            "verified": checked.verified,
            "policy_number": checked.policy_number,
            "holder_name": checked.holder_name,
            "reason": checked.reason,
        }
        return self._record_tool(call, result, ok=True, key=key)

    async def _find_slots(self, call: ToolCall) -> ToolResult:
        """Read-only: the clinic's free times on a day, and whether the date of birth is a patient's."""
        key = f"{self._state.workflow_id}/find_slots/{len(self._state.tool_calls) + 1}"
        found = await self._tool_activity(
            call,
            key,
            AppointmentActivities.find_slots,
            FindSlotsInput(
                day=str(call.arguments.get("day") or ""),
                date_of_birth=str(call.arguments.get("date_of_birth") or ""),
                workflow_id=self._state.workflow_id,
            ),
            timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=APPOINTMENT_REFUSALS),
        )
        result: dict[str, object] = {
            "day": found.day,
            "slots": list(found.slots),
            "patient_found": found.patient_found,
            "patient_name": found.patient_name,
        }
        return self._record_tool(call, result, ok=True, key=key)

    async def _book_appointment(self, call: ToolCall) -> ToolResult:
        # One booking per call: a duplicated or retried update finds the appointment already booked.
        async with self._booking_lock:
            if self._booking is not None:
                return ToolResult(ok=True, result={**self._booking, "created": False})
            key = f"{self._state.workflow_id}/book_appointment"
            booked = await self._tool_activity(
                call,
                key,
                AppointmentActivities.book_appointment,
                BookAppointmentInput(
                    idempotency_key=key,
                    day=str(call.arguments.get("day") or ""),
                    time=str(call.arguments.get("time") or ""),
                    date_of_birth=str(call.arguments.get("date_of_birth") or ""),
                    workflow_id=self._state.workflow_id,
                    caller=self._state.caller,
                ),
                timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=APPOINTMENT_REFUSALS),
            )
            result: dict[str, object] = {
                "confirmation_code": booked.confirmation_code,
                "day": booked.day,
                "time": booked.time,
                "patient_name": booked.patient_name,
                "created": booked.created,
            }
            self._booking = result
            return self._record_tool(call, result, ok=True, key=key)

    async def _tool_activity(
        self,
        call: ToolCall,
        key: str,
        activity: Callable[[Any, ActivityInput], Awaitable[ActivityOutput]],
        arg: ActivityInput,
        *,
        timeout: timedelta,
        retry_policy: RetryPolicy,
    ) -> ActivityOutput:
        """Run a tool's activity; a failure is recorded as the tool call's result and refuses it."""
        try:
            return await workflow.execute_activity_method(
                activity, arg, start_to_close_timeout=timeout, retry_policy=retry_policy
            )
        except ActivityError as err:
            message = failure_message(err)
            raise ToolRefused(self._record_tool(call, {"error": message}, ok=False, key=key)) from err

    async def _start_follow_up(self, claim_id: str, details: dict[str, object], policy: FollowUpPolicy) -> None:
        """The claim lives on after the call: its follow-up workflow outlives this one (abandon)."""
        workflow_id = claim_follow_up_workflow_id(claim_id)
        try:
            await workflow.start_child_workflow(
                "ClaimFollowUpWorkflow",
                ClaimFollowUpInput(
                    claim_id=claim_id,
                    caller=self._state.caller,
                    call_workflow_id=self._state.workflow_id,
                    details=details,
                    policy=policy,
                ),
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("follow-up %s already running", workflow_id)
        self._state.follow_up_workflow_id = workflow_id

    def _record_tool(self, call: ToolCall, result: dict[str, object], *, ok: bool, key: str) -> ToolResult:
        """The tool call in the history of record, and the answer the brain gets."""
        self._state.tool_calls.append(
            ToolCallRecord(
                name=call.name,
                arguments=dict(call.arguments),
                result=dict(result),
                ok=ok,
                at=workflow.now().isoformat(),
                idempotency_key=key,
            )
        )
        return ToolResult(ok=True, result=result) if ok else ToolResult(ok=False, error=str(result.get("error", "")))

    # ------------------------------------------------------------------ queries

    @workflow.query
    def state(self) -> CallState:
        return self._state

    # ------------------------------------------------------------------ helpers

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=timeout)
            return True
        except TimeoutError:
            return False

    def _set_status(self, status: CallStatus) -> None:
        self._state.status = status
        updates: list[SearchAttributeUpdate] = [
            CALL_STATUS.value_set(str(status)),
            CURRENT_AGENT.value_set(self._state.current_agent),
        ]
        if self._state.caller:
            updates.append(CALLER_NUMBER.value_set(self._state.caller))
        if self._state.claim_id:
            updates.append(CLAIM_ID.value_set(self._state.claim_id))
        if self._state.ended_at and self._state.started_at:
            elapsed = datetime.fromisoformat(self._state.ended_at) - datetime.fromisoformat(self._state.started_at)
            updates.append(CALL_DURATION_SECONDS.value_set(int(elapsed.total_seconds())))
        workflow.upsert_search_attributes(updates)

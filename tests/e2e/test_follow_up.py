"""Claim follow-up on real (shortened) timers: a claim filed on a call starts `claim-{id}`; while
documents are missing a reminder is an outbound call (its own `CallWorkflow` through the emulator),
afterwards a notification on the claim; escalation after N reminders; closure on `claim_closed`;
a Temporal worker killed mid-follow-up loses nothing; long histories continue as new."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from activities.storage import ClaimRecord, SqliteArchive
from activities.storage.archive import default_sqlite_path
from emulators.acs.script import load_script
from switchboard.settings import Settings
from tests.stack import local_stack
from workers.temporal_worker import WORKFLOWS
from workflows.call import CallWorkflow
from workflows.claim_follow_up import ClaimFollowUpWorkflow
from workflows.contracts import (
    AdjusterAssigned,
    CallState,
    CallStatus,
    ClaimClosed,
    ClaimFollowUpInput,
    ClaimFollowUpState,
    DocumentReceived,
    FollowUpPolicy,
    ToolCall,
    call_workflow_id,
    claim_follow_up_workflow_id,
    follow_up_correlation_id,
)

pytestmark = pytest.mark.e2e

CLAIM_DETAILS = {
    "caller_name": "Jane Doe",
    "policy_number": "PA123456",
    "date_of_loss": "2026-03-03",
    "location": "main street",
    "description": "a truck hit my car",
}
CALLEE_HANGS_UP = tuple(load_script([{"silence": 1.0}, {"hang_up": True}]))


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, what: str = "condition") -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def claim_events(settings: Settings, claim_id: str) -> list[str]:
    async with SqliteArchive(default_sqlite_path(settings)) as archive:
        claim = await archive.get_claim(claim_id)
    assert claim is not None
    return [str(event["kind"]) for event in claim.events]


async def test_a_filed_claim_is_followed_up_by_call_then_notification_escalated_and_closed(
    settings: Settings, temporal_client: Client, redis_port: int
) -> None:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.claims.reminder_intervals_seconds = [3, 2]
    settings.claims.escalate_after_reminders = 2
    async with local_stack(settings, temporal_client) as stack:
        stack.emulator.options = dataclasses.replace(stack.emulator.options, outbound_script=CALLEE_HANGS_UP)
        call = await stack.emulator.place_call(
            caller="+15551230201", callee="+15550009999", script=[{"silence": 30}, {"hang_up": True}]
        )
        await call.wait_for("connected", timeout=15)
        filed = await stack.handle(call.call_id).execute_update(
            CallWorkflow.run_tool, ToolCall(name="file_claim", arguments=CLAIM_DETAILS)
        )
        filed_at = time.monotonic()
        claim_id = str(filed.result["claim_id"])
        await call.caller_hang_up()
        call_state = await stack.handle(call.call_id).result()
        assert call_state.follow_up_workflow_id == claim_follow_up_workflow_id(claim_id)

        follow_up: WorkflowHandle[ClaimFollowUpWorkflow, ClaimFollowUpState] = stack.client.get_workflow_handle_for(
            ClaimFollowUpWorkflow.run, claim_follow_up_workflow_id(claim_id)
        )
        # First reminder (3 s), documents missing: an outbound call to the claimant.
        outbound = await stack.emulator.wait_for_outbound_call(timeout=20)
        assert time.monotonic() - filed_at >= 2.5
        assert outbound.callee == "+15551230201" and outbound.caller == settings.claims.outbound_caller_id
        status = await follow_up.query(ClaimFollowUpWorkflow.status)
        assert status.reminders_sent == 1 and len(status.follow_up_calls) == 1
        outbound_call: WorkflowHandle[object, CallState] = stack.client.get_workflow_handle(
            status.follow_up_calls[0], result_type=CallState
        )
        placed = await asyncio.wait_for(outbound_call.result(), 30)
        assert placed.direction == "outbound" and placed.status == CallStatus.COMPLETED
        assert placed.current_agent == settings.claims.follow_up_agent
        assert placed.call_connection_id == outbound.call_connection_id and placed.connected_at

        # Documents arrive: the second reminder (2 s later) is a notification; two reminders escalate.
        await follow_up.signal(ClaimFollowUpWorkflow.document_received, DocumentReceived(document_id="photo-1"))
        await follow_up.signal(ClaimFollowUpWorkflow.document_received, DocumentReceived(document_id="photo-1"))
        await follow_up.signal(ClaimFollowUpWorkflow.adjuster_assigned, AdjusterAssigned(adjuster="A. Smith"))

        async def escalated() -> bool:
            return (await follow_up.query(ClaimFollowUpWorkflow.status)).escalated

        await eventually(escalated, timeout=20, what="escalation")
        await follow_up.signal(ClaimFollowUpWorkflow.claim_closed, ClaimClosed(reason="paid"))
        final = await asyncio.wait_for(follow_up.result(), 20)

    assert final.status == "closed" and final.closed_reason == "paid"
    assert final.documents == ["photo-1"] and final.adjuster == "A. Smith"
    assert final.reminders_sent == 2 and len(final.follow_up_calls) == 1
    kinds = [event.kind for event in final.events]
    assert kinds == [
        "opened",
        "follow_up_call",
        "document_received",
        "adjuster_assigned",
        "reminder",
        "escalated",
        "closed",
    ]
    assert await claim_events(settings, claim_id) == kinds  # each recorded on the claim exactly once
    async with SqliteArchive(default_sqlite_path(settings)) as archive:
        claim = await archive.get_claim(claim_id)
    assert claim is not None and claim.status == "closed"
    assert claim.follow_up_workflow_id == claim_follow_up_workflow_id(claim_id)
    placed_id = call_workflow_id(f"follow-up-{claim_id}-1")
    assert (await stack.client.count_workflows(f'WorkflowId = "{placed_id}"')).count == 1
    # The histories these runs made replay against the code (deterministic workflow code).
    replayer = Replayer(workflows=WORKFLOWS)
    for workflow_id in (follow_up.id, placed_id, call_state.workflow_id):
        await replayer.replay_workflow(await stack.client.get_workflow_handle(workflow_id).fetch_history())


async def test_follow_up_survives_a_worker_kill_and_continues_as_new(
    settings: Settings, temporal_client: Client, redis_port: int
) -> None:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    claim_id = f"CLM-T{int(time.time() * 1000) % 10**7:07d}"
    async with local_stack(settings, temporal_client, worker_process=True) as stack:
        async with SqliteArchive(default_sqlite_path(settings)) as archive:
            await archive.upsert_claim(
                ClaimRecord(claim_id=claim_id, caller="+15551230202", created_at=datetime.now(UTC).isoformat())
            )
        policy = FollowUpPolicy(
            reminder_intervals_seconds=[2], escalate_after_reminders=10, continue_as_new_after_events=3
        )
        handle = await stack.client.start_workflow(
            ClaimFollowUpWorkflow.run,
            ClaimFollowUpInput(claim_id=claim_id, caller="+15551230202", policy=policy),
            id=claim_follow_up_workflow_id(claim_id),
            task_queue=settings.temporal.task_queue,
        )
        await handle.signal(ClaimFollowUpWorkflow.document_received, DocumentReceived(document_id="estimate"))

        async def reminded(count: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return (await handle.query(ClaimFollowUpWorkflow.status)).reminders_sent >= count

            return check

        await eventually(await reminded(1), timeout=20, what="first reminder")
        await stack.kill_worker()
        killed_at = time.monotonic()
        await asyncio.sleep(3)  # a reminder falls due while no worker runs
        await stack.start_worker_process()
        await eventually(await reminded(3), timeout=30, what="reminders after the restart")
        assert time.monotonic() - killed_at >= 4
        await handle.signal(ClaimFollowUpWorkflow.claim_closed, ClaimClosed(reason="withdrawn"))
        final = await asyncio.wait_for(handle.result(), 30)

    assert final.status == "closed" and final.runs > 1  # continued as new, state carried over
    assert final.reminders_sent >= 3 and final.documents == ["estimate"]
    assert not final.follow_up_calls  # documents were in: notifications only
    recorded = await claim_events(settings, claim_id)
    # The document signal may be handled before the run records "opened" (both in the first task).
    assert sorted(recorded[:2]) == ["document_received", "opened"] and recorded[-1] == "closed"
    assert recorded.count("reminder") == final.reminders_sent


async def test_the_follow_up_call_names_the_claim_and_the_missing_documents(
    settings: Settings, temporal_client: Client, redis_port: int
) -> None:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    claimant = "+15551230203"
    claim_id = f"CLM-F{int(time.time() * 1000) % 10**7:07d}"
    async with local_stack(settings, temporal_client) as stack:
        # The claimant listens, says they can send the documents, and listens to how.
        stack.emulator.outbound_scripts[claimant] = load_script(
            [
                {"wait_agent_done": {"quiet_ms": 800, "timeout": 40}},
                {"say": "yes"},
                {"wait_agent_done": {"quiet_ms": 1500, "timeout": 40}},
                {"hang_up": True},
            ]
        )
        async with SqliteArchive(default_sqlite_path(settings)) as archive:
            await archive.upsert_claim(
                ClaimRecord(claim_id=claim_id, caller=claimant, created_at=datetime.now(UTC).isoformat())
            )
        policy = FollowUpPolicy(reminder_intervals_seconds=[1, 3600], outbound_agent="claims-follow-up")
        handle = await stack.client.start_workflow(
            ClaimFollowUpWorkflow.run,
            ClaimFollowUpInput(claim_id=claim_id, caller=claimant, policy=policy),
            id=claim_follow_up_workflow_id(claim_id),
            task_queue=settings.temporal.task_queue,
        )
        placed: WorkflowHandle[object, CallState] = stack.client.get_workflow_handle(
            call_workflow_id(follow_up_correlation_id(claim_id, 1)), result_type=CallState
        )
        await stack.emulator.wait_for_outbound_call(timeout=20)
        state = await asyncio.wait_for(placed.result(), 120)
        await handle.signal(ClaimFollowUpWorkflow.claim_closed, ClaimClosed(reason="documents promised"))
        await asyncio.wait_for(handle.result(), 20)

    said = [turn.agent_text for turn in state.turns]
    assert state.direction == "outbound" and state.status == CallStatus.COMPLETED, said
    assert {turn.agent for turn in state.turns} == {"claims-follow-up"}
    spoken_claim = " ".join(ch for ch in claim_id if ch.isalnum())
    assert spoken_claim in said[0] and "photos of the damage and a repair estimate" in said[0], said
    assert said[0].rstrip().endswith("Can you send them to us?"), said
    assert state.turns[1].caller_text == "yes", said
    assert "upload the documents" in said[1] and spoken_claim in said[1] and "goodbye" in said[1], said
    assert not state.transfers and not state.tool_calls

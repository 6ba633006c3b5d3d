"""Whole calls through the ACS emulator and the local stack: IncomingCall -> answer -> CallConnected
-> media socket to the realtime worker -> CallDisconnected -> a completed, archived workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

from activities.storage import SqliteArchive, verify
from activities.storage.archive import default_sqlite_path
from switchboard.settings import DEV_API_KEYS, Settings
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallInput, CallStatus, HangUpRequest, call_workflow_id

pytestmark = pytest.mark.e2e

GREETING_THEN_HANG_UP = [
    {"wait_agent_done": {"quiet_ms": 500, "timeout": 20}},
    {"silence": 0.5},
    {"hang_up": True},
]


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


def answer_requests(stack: LocalStack, correlation_id: str) -> list[object]:
    return [
        r
        for r in stack.emulator.requests
        if r.path.endswith("callConnections:answer") and correlation_id in str(r.body.get("callbackUri", ""))
    ]


async def test_a_whole_call_completes_with_state_search_attributes_and_archive(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(caller="+15551230001", callee="+15550009999", script=GREETING_THEN_HANG_UP)
    await call.wait_for("media_opened", timeout=15)
    state = await stack.handle(call.call_id).result()

    assert call.event_types[:1] == ["CallConnected"] and "CallDisconnected" in call.event_types
    assert state.status == CallStatus.COMPLETED
    assert state.caller == "+15551230001" and state.callee == "+15550009999"
    assert state.call_connection_id == call.call_connection_id
    assert state.connected_at and state.ended_at and state.end_reason == "disconnected"
    assert state.media_worker_id and not state.media_active
    assert state.turns and state.turns[0].sequence == 1 and state.turns[0].agent_text  # the greeting was heard
    assert len(answer_requests(stack, call.call_id)) == 1

    description = await stack.handle(call.call_id).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(SearchAttributeKey.for_keyword("CallStatus")) == "completed"
    assert attributes.get(SearchAttributeKey.for_keyword("CallerNumber")) == "+15551230001"
    assert attributes.get(SearchAttributeKey.for_int("CallDurationSeconds")) is not None

    async with httpx.AsyncClient(base_url=stack.settings.acs.callback_base_url, timeout=10) as http:
        headers = {"X-API-Key": DEV_API_KEYS["staff"]}
        response = await http.get(f"/calls/{state.workflow_id}", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "completed"
    assert response.json()["source"] == "archive" and response.json()["record_verified"]
    assert response.json()["summary"] and response.json()["summary"] == response.json()["record"]["summary"]

    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        record = await archive.get(state.workflow_id)
    assert record is not None and verify(record) and record.content_hash == state.archive_hash
    assert [turn.sequence for turn in record.turns] == [turn.sequence for turn in state.turns]
    assert state.summary is not None and record.summary == state.summary.text != ""


async def test_incoming_call_delivered_three_times_makes_one_workflow_and_one_answer(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230002", callee="+15550009999", script=GREETING_THEN_HANG_UP, deliveries=3
    )
    state = await stack.handle(call.call_id).result()
    assert state.status == CallStatus.COMPLETED
    workflow_id = call_workflow_id(call.call_id)
    count = await stack.client.count_workflows(f'WorkflowId = "{workflow_id}"')
    assert count.count == 1
    assert len(answer_requests(stack, call.call_id)) == 1
    assert len([r for r in call.requests if r.path.endswith(":answer")]) == 1


async def test_hang_up_update_ends_the_call(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230003", callee="+15550009999", script=[{"silence": 60}, {"hang_up": True}]
    )
    await call.wait_for("media_opened", timeout=15)
    handle = stack.handle(call.call_id)
    result = await handle.execute_update(
        CallWorkflow.hang_up, HangUpRequest(reason="staff request", requested_by="staff")
    )
    assert result.accepted
    state = await handle.result()
    await call.wait_for("disconnected", timeout=10)
    assert state.status == CallStatus.COMPLETED
    assert state.end_reason == "hang_up:staff:staff request"


async def test_answer_failure_fails_the_workflow_with_a_typed_error(stack: LocalStack) -> None:
    correlation_id = f"unknown-{uuid.uuid4()}"
    handle = await stack.client.start_workflow(
        CallWorkflow.run,
        CallInput(correlation_id=correlation_id, incoming_call_context="not-a-context-acs-issued"),
        id=call_workflow_id(correlation_id),
        task_queue=stack.settings.temporal.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "AnswerCallFailed"
    assert "ACS answered 4" in cause.message
    state = await handle.query(CallWorkflow.state)
    assert state.status == CallStatus.FAILED and state.end_reason == "answer_failed"


async def test_a_redelivered_acs_callback_is_applied_once(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230004", callee="+15550009999", script=[{"silence": 30}, {"hang_up": True}]
    )
    await call.wait_for("connected", timeout=15)
    handle = stack.handle(call.call_id)
    connected = await call.wait_for_event("CallConnected", timeout=10)
    # ACS retries callbacks: the same CloudEvent (same id) posted again changes nothing.
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(2):
            response = await http.post(connected.url, json=[connected.event])
            assert response.status_code == 200
    async with asyncio.timeout(10):  # let in-flight callbacks land
        while not all(sent.delivery and sent.delivery.delivered for sent in call.events):
            await asyncio.sleep(0.05)
    sent_ids = {sent.event["id"] for sent in call.events}
    assert (await handle.query(CallWorkflow.state)).events_seen == len(sent_ids)
    await call.caller_hang_up()
    state = await handle.result()
    assert state.status == CallStatus.COMPLETED

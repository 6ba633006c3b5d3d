"""Transfer to a human through the ACS emulator: the `request_transfer` update, from staff or from
the realtime brain. A failed transfer leaves the call going; an accepted one ends it as `transferred`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError
from temporalio.worker import Replayer

from realtime.actions import WorkflowCallActions
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workers.temporal_worker import WORKFLOWS
from workflows.call import CallWorkflow
from workflows.contracts import CallStatus, TransferRequest

pytestmark = pytest.mark.e2e

BROKEN_DESK = "+15550100199"
HUMAN_QUEUE = "+15550100100"


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.acs.human_queue_number = HUMAN_QUEUE
    async with local_stack(settings, temporal_client) as running:
        emulator = running.emulator
        emulator.options = dataclasses.replace(emulator.options, failing_targets=frozenset({BROKEN_DESK}))
        yield running


def realtime_actions(stack: LocalStack, workflow_id: str) -> WorkflowCallActions:
    """The actions the realtime worker uses, over this test's Temporal client."""

    async def execute_update(workflow_id: str, name: str, payload: Any, result_type: type) -> Any:
        handle = stack.client.get_workflow_handle(workflow_id)
        return await handle.execute_update(name, payload, result_type=result_type)

    return WorkflowCallActions(workflow_id, execute_update)


async def test_a_failed_transfer_resumes_the_call_and_a_successful_one_ends_it_transferred(
    stack: LocalStack,
) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230101", callee="+15550009999", script=[{"silence": 60}, {"hang_up": True}]
    )
    await call.wait_for("media_opened", timeout=15)
    handle = stack.handle(call.call_id)
    async with asyncio.timeout(10):
        while (await handle.query(CallWorkflow.state)).status != CallStatus.CONNECTED:
            await asyncio.sleep(0.1)

    # The realtime worker's path: the brain asks, the workflow answers "not accepted" with the reason.
    refused = await realtime_actions(stack, handle.id).transfer(target=BROKEN_DESK, reason="caller asked")
    assert not refused.accepted and "unreachable" in refused.detail
    state = await handle.query(CallWorkflow.state)
    assert state.status == CallStatus.CONNECTED and not state.ended_at  # the conversation goes on
    assert [(t.outcome, t.requested_by) for t in state.transfers] == [("failed", "agent")]
    assert not call.is_over

    # Staff through the same update; a named queue goes to the configured human queue number.
    accepted = await handle.execute_update(
        CallWorkflow.request_transfer,
        TransferRequest(target="claims-agents", reason="supervisor", requested_by="staff"),
    )
    assert accepted.accepted and accepted.target == HUMAN_QUEUE and accepted.status == CallStatus.TRANSFERRED
    final = await handle.result()
    assert final.status == CallStatus.TRANSFERRED
    assert final.end_reason == f"transferred:{HUMAN_QUEUE}"
    assert [t.outcome for t in final.transfers] == ["failed", "accepted"]
    assert call.transfer_target == HUMAN_QUEUE and "transfer_accepted" in call.milestones
    described = await handle.describe()
    assert described.typed_search_attributes.get(SearchAttributeKey.for_keyword("CallStatus")) == "transferred"

    await Replayer(workflows=WORKFLOWS).replay_workflow(await handle.fetch_history())

    with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # the call is over: nothing to transfer
        await handle.execute_update(CallWorkflow.request_transfer, TransferRequest(target=HUMAN_QUEUE))


async def test_the_caller_asks_for_a_person_and_hears_the_transfer_failed_then_the_call_goes_on(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    script: list[dict[str, Any]] = [
        {"wait_agent_done": {"quiet_ms": 600, "timeout": 30}},
        {"say": "my name is Jane Doe"},
        # The policy-number question's grammar takes the universal commands too.
        {"wait_agent_done": {"quiet_ms": 600, "timeout": 30}},
        {"say": "agent please"},
        {"wait_agent_done": {"quiet_ms": 1500, "timeout": 30}},
        {"silence": 1.0},
        {"hang_up": True},
    ]
    stack.emulator.options = dataclasses.replace(
        stack.emulator.options, failing_targets=frozenset({BROKEN_DESK, HUMAN_QUEUE})
    )
    caplog.set_level(logging.WARNING, logger="realtime")
    call = await stack.emulator.place_call(caller="+15551230102", callee="+15550009999", script=script)
    state = await stack.handle(call.call_id).result()

    assert state.status == CallStatus.COMPLETED  # the caller hung up later: the transfer did not end the call
    heard = [(t.caller_text, t.agent_text) for t in state.turns]
    assert [(t.outcome, t.requested_by, t.target) for t in state.transfers] == [("failed", "agent", HUMAN_QUEUE)], heard
    assert any("transfer refused" in r.getMessage() for r in caplog.records)

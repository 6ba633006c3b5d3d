"""`request_handoff` on a live call: an edge of the scenario graph is accepted (current agent and
search attribute follow), anything else is refused by the validator and the call goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributeKey

from realtime.actions import WorkflowCallActions
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallStatus, HandoffRequest

pytestmark = pytest.mark.e2e


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


async def test_handoffs_follow_the_scenario_graph(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230301", callee="+15550009999", script=[{"silence": 30}, {"hang_up": True}]
    )
    await call.wait_for("connected", timeout=15)
    handle = stack.handle(call.call_id)
    async with asyncio.timeout(10):
        while (await handle.query(CallWorkflow.state)).status != CallStatus.CONNECTED:
            await asyncio.sleep(0.1)

    async def execute_update(workflow_id: str, name: str, payload: Any, result_type: type) -> Any:
        return await stack.client.get_workflow_handle(workflow_id).execute_update(
            name, payload, result_type=result_type
        )

    actions = WorkflowCallActions(handle.id, execute_update)
    refused = await actions.handoff(target_agent="claims-follow-up", reason="not an edge")
    assert not refused.accepted and "not allowed" in refused.detail

    accepted = await actions.handoff(target_agent="claims-specialist", reason="injuries")
    assert accepted.accepted and accepted.detail == "claims-specialist"
    with pytest.raises(WorkflowUpdateFailedError) as again:
        await handle.execute_update(CallWorkflow.request_handoff, HandoffRequest(target_agent="claims-specialist"))
    assert "already the agent" in str(again.value.cause)
    back = await handle.execute_update(
        CallWorkflow.request_handoff, HandoffRequest(target_agent="default", reason="done", requested_by="staff")
    )
    assert back.accepted and back.previous_agent == "claims-specialist"
    described = await handle.describe()
    assert described.typed_search_attributes.get(SearchAttributeKey.for_keyword("CurrentAgent")) == "default"

    await call.caller_hang_up()
    state = await handle.result()
    assert state.status == CallStatus.COMPLETED and state.current_agent == "default"
    assert [(h.from_agent, h.to_agent, h.requested_by) for h in state.handoffs] == [
        ("default", "claims-specialist", "agent"),
        ("claims-specialist", "default", "staff"),
    ]

"""`run_tool` for the clinic's diary on a live call: `find_slots` is read-only and recorded each time;
`book_appointment` books once per call however often (and however concurrently) the update comes,
and a refused booking (a time somebody else holds) leaves the call free to book another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from temporalio.client import Client, WorkflowHandle

from emulators.acs import SimulatedCall
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallState, CallStatus, ToolCall

pytestmark = pytest.mark.e2e

JANE = "1980-07-04"


def next_monday() -> str:
    today = date.today()
    return (today + timedelta(days=(0 - today.weekday()) % 7 or 7)).isoformat()


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


async def connected_call(stack: LocalStack, caller: str) -> tuple[SimulatedCall, WorkflowHandle[object, CallState]]:
    call = await stack.emulator.place_call(caller=caller, callee="+15550009999", script=[{"silence": 60}])
    await call.wait_for("connected", timeout=15)
    handle = stack.handle(call.call_id)
    async with asyncio.timeout(10):
        while (await handle.query(CallWorkflow.state)).status != CallStatus.CONNECTED:
            await asyncio.sleep(0.1)
    return call, handle


async def test_one_booking_per_call_and_a_taken_time_is_refused(stack: LocalStack) -> None:
    monday = next_monday()
    call, handle = await connected_call(stack, "+15551230501")
    found = await handle.execute_update(
        CallWorkflow.run_tool, ToolCall(name="find_slots", arguments={"day": monday, "date_of_birth": JANE})
    )
    assert found.ok and found.result["patient_found"] and found.result["slots"][0] == "09:00"
    book = ToolCall(name="book_appointment", arguments={"day": monday, "time": "09:00", "date_of_birth": JANE})
    results = await asyncio.gather(*(handle.execute_update(CallWorkflow.run_tool, book) for _ in range(3)))
    assert all(r.ok for r in results)
    assert sum(bool(r.result["created"]) for r in results) == 1
    assert len({r.result["confirmation_code"] for r in results}) == 1

    # Another call cannot have the same time; it can book the next one.
    other_call, other = await connected_call(stack, "+15551230502")
    john = {"day": monday, "time": "09:00", "date_of_birth": "1975-11-23"}
    taken = await other.execute_update(CallWorkflow.run_tool, ToolCall(name="book_appointment", arguments=john))
    assert not taken.ok and "already taken" in taken.error
    later = await other.execute_update(
        CallWorkflow.run_tool, ToolCall(name="book_appointment", arguments={**john, "time": "09:30"})
    )
    assert later.ok and later.result["created"] and later.result["time"] == "09:30"

    for simulated in (call, other_call):
        await simulated.caller_hang_up()
    state = await handle.result()
    assert [(t.name, t.ok) for t in state.tool_calls] == [("find_slots", True), ("book_appointment", True)]
    assert state.tool_calls[1].idempotency_key == f"{state.workflow_id}/book_appointment"
    assert state.tool_calls[1].result["confirmation_code"] == results[0].result["confirmation_code"]
    other_state = await other.result()
    assert [(t.name, t.ok) for t in other_state.tool_calls] == [("book_appointment", False), ("book_appointment", True)]

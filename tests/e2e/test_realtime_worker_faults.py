"""The realtime worker holding a call dies (SIGKILL) mid-call: the workflow notices through the media
watchdog, keeps every turn the worker finished, apologises over ACS, and hands the caller to people,
or hangs up and books a callback (DESIGN 2.8). The record of the call is archived either way."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from activities.storage import SqliteArchive
from activities.storage.archive import default_sqlite_path
from switchboard.cli import DEMO_SCRIPT
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallState, CallStatus, call_workflow_id

pytestmark = pytest.mark.e2e

# Authentication and two intake answers, then the caller waits on the line (the worker dies).
THREE_ANSWERS_THEN_WAIT = [*DEMO_SCRIPT[:6], {"silence": 90}, {"hang_up": True}]


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest, settings: Settings, temporal_client: Client, redis_port: int
) -> AsyncIterator[LocalStack]:
    """The realtime worker as a child process; the recovery action from the test's parameter."""
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.realtime.watchdog_heartbeat_timeout_seconds = 2.0
    settings.realtime.recovery_action = getattr(request, "param", "transfer")
    async with local_stack(settings, temporal_client, realtime_process=True) as running:
        yield running


async def _kill_after_turns(stack: LocalStack, correlation_id: str, turns: int) -> tuple[CallState, float]:
    handle = stack.handle(correlation_id)
    async with asyncio.timeout(90):
        while len((state := await handle.query(CallWorkflow.state)).turns) < turns:
            await asyncio.sleep(0.2)
    await stack.kill_realtime_worker()
    return state, time.perf_counter()


def _played_texts(stack: LocalStack) -> list[str]:
    return [
        source["text"]["text"]
        for request in stack.emulator.requests
        if request.path.endswith(":play") and isinstance(request.body, dict)
        for source in request.body.get("playSources", [])
        if source.get("kind") == "text"
    ]


async def test_a_dead_realtime_worker_s_call_is_apologised_for_and_transferred(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(caller="+15551230040", callee="+15550009999", script=THREE_ANSWERS_THEN_WAIT)
    before, killed_at = await _kill_after_turns(stack, call.call_id, turns=3)

    state = await asyncio.wait_for(stack.handle(call.call_id).result(), 60)
    recovered_in = time.perf_counter() - killed_at
    assert state.status == CallStatus.RECOVERED
    assert state.recovery is not None
    assert state.recovery.cause == "heartbeat_timeout"
    assert state.recovery.outcome == "transferred"
    assert state.recovery.lost_worker_id == before.media_worker_id
    assert state.media_ended_reason == "worker_lost"
    assert recovered_in < 30, f"recovery took {recovered_in:.1f}s"
    # The apology is spoken by ACS, then the caller goes to the human queue.
    assert any("technical problem" in text for text in _played_texts(stack))
    transfer = state.transfers[-1]
    assert (transfer.requested_by, transfer.outcome) == ("system", "accepted")
    assert transfer.target == stack.settings.acs.human_queue_number
    # Every turn the worker finished before it died is in the record, once, in order.
    sequences = [turn.sequence for turn in state.turns]
    assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) >= 3
    assert [t.agent_text for t in state.turns[:3]] == [t.agent_text for t in before.turns[:3]]
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        record = await archive.get(call_workflow_id(call.call_id))
    assert record is not None and record.status == "recovered"
    assert [turn.sequence for turn in record.turns] == sequences
    await call.wait_for("disconnected", timeout=10)


@pytest.mark.parametrize("stack", ["callback"], indirect=True)
async def test_with_callback_recovery_the_call_is_hung_up_and_a_callback_booked(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(caller="+15551230041", callee="+15550009999", script=THREE_ANSWERS_THEN_WAIT)
    await _kill_after_turns(stack, call.call_id, turns=2)

    state = await asyncio.wait_for(stack.handle(call.call_id).result(), 60)
    assert state.status == CallStatus.RECOVERED
    assert state.recovery is not None and state.recovery.outcome == "callback_scheduled"
    assert any("call you back" in text for text in _played_texts(stack))
    await call.wait_for("disconnected", timeout=10)

    callback = stack.client.get_workflow_handle(state.recovery.callback_workflow_id)
    described = await callback.describe()
    try:
        assert described.status == WorkflowExecutionStatus.RUNNING  # waiting on its durable timer
        pending = await callback.query(CallWorkflow.state)
        assert pending.direction == "outbound" and pending.callee == "+15551230041"
    finally:
        await callback.terminate("test over")


async def test_a_stalled_realtime_worker_is_not_taken_for_dead(stack: LocalStack) -> None:
    """Heartbeats stop while the worker is frozen (SIGSTOP, as a long pause or a Temporal outage
    would); the watchdog times out, is armed again, the thawed worker picks it up, and the call goes
    on to its normal end: no apology, no transfer."""
    script = [*DEMO_SCRIPT[:2], {"silence": 12}, {"hang_up": True}]
    call = await stack.emulator.place_call(caller="+15551230042", callee="+15550009999", script=script)
    handle = stack.handle(call.call_id)
    async with asyncio.timeout(60):
        while not (await handle.query(CallWorkflow.state)).turns:
            await asyncio.sleep(0.2)
    assert stack.realtime_process is not None
    stack.realtime_process.send_signal(signal.SIGSTOP)
    await asyncio.sleep(3.0)  # longer than the 2 s heartbeat timeout, shorter than it plus the 3 s confirmation
    stack.realtime_process.send_signal(signal.SIGCONT)

    state = await asyncio.wait_for(handle.result(), 60)
    assert state.status == CallStatus.COMPLETED and state.recovery is None
    assert not any("technical problem" in text for text in _played_texts(stack))
    timed_out = [
        event
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
    ]
    assert len(timed_out) >= 1, "the freeze never timed the watchdog out: the test proved nothing"

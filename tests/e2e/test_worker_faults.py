"""Temporal is never on the audio path: killing the Temporal worker mid-call does not interrupt the
conversation, and every turn reaches the workflow, once, when a worker is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from switchboard.cli import DEMO_SCRIPT
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallStatus

pytestmark = pytest.mark.e2e

# The greeting, the two authentication answers (identity check and handoff run as workflow updates),
# then three intake answers and the hang-up, all of them while the Temporal worker is dead.
FIVE_ANSWERS_THEN_HANG_UP = [
    *DEMO_SCRIPT[:10],
    {"wait_agent_done": {"quiet_ms": 800, "timeout": 30}},
    {"hang_up": True},
]


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client, worker_process=True) as running:
        yield running


async def test_killing_the_temporal_worker_mid_call_loses_no_turn_and_no_audio(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230020", callee="+15550009999", script=FIVE_ANSWERS_THEN_HANG_UP
    )
    handle = stack.handle(call.call_id)
    async with asyncio.timeout(60):
        while len((await handle.query(CallWorkflow.state)).turns) < 3:
            await asyncio.sleep(0.2)

    await stack.kill_worker()
    killed_at = time.perf_counter()
    await call.wait_for("disconnected", timeout=120)  # the rest of the call ran with no worker
    spoken_after_kill = [s for s in call.timeline.agent_segments if s.started_at > killed_at]
    assert len(spoken_after_kill) >= 3, "the agent stopped answering when the Temporal worker died"
    assert call.late_frames == 0

    await stack.start_worker_process()
    state = await asyncio.wait_for(handle.result(), 60)
    assert state.status == CallStatus.COMPLETED
    sequences = [turn.sequence for turn in state.turns]
    assert sequences == list(range(1, len(sequences) + 1))
    assert len(sequences) == 6  # greeting + five answers, each exactly once
    assert all(turn.caller_text for turn in state.turns[1:])

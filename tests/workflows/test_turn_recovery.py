"""A turn the realtime worker finished and published to the live transcript, but whose signal never
reached the workflow (the worker's signal queue overflowed while Temporal was away), is recovered
from Redis when the call ends: the archived transcript has every turn, once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from temporalio.client import Client

from activities.storage import SqliteArchive
from activities.storage.archive import default_sqlite_path
from realtime.live import RedisLiveTranscript
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallStatus, Turn, call_workflow_id

pytestmark = pytest.mark.e2e


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


async def test_a_turn_whose_signal_was_lost_is_recovered_from_the_live_transcript(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230050", callee="+15550009999", script=[{"silence": 30}, {"hang_up": True}]
    )
    handle = stack.handle(call.call_id)
    async with asyncio.timeout(30):  # the greeting (turn 1) arrives as a signal
        while not (await handle.query(CallWorkflow.state)).turns:
            await asyncio.sleep(0.1)

    # Turns 2 and 3 reached Redis; only turn 3's signal reached the workflow.
    lost, arrived = (
        Turn(sequence=2, caller_text="my policy is p a one two three", agent_text="Thank you.", agent="authentication"),
        Turn(sequence=3, caller_text="six two seven", agent_text="One moment.", agent="authentication"),
    )
    redis_client = aioredis.from_url(stack.settings.redis.url)
    async with RedisLiveTranscript(redis_client) as live:
        live.publish(call.call_id, lost)
        live.publish(call.call_id, arrived)
    await redis_client.aclose()
    await handle.signal(CallWorkflow.turn_completed, arrived)

    await call.caller_hang_up()
    state = await asyncio.wait_for(handle.result(), 60)
    assert state.status == CallStatus.COMPLETED
    assert [turn.sequence for turn in state.turns] == [1, 2, 3]
    assert state.turns[1].caller_text == lost.caller_text
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        record = await archive.get(call_workflow_id(call.call_id))
    assert record is not None and [turn.sequence for turn in record.turns] == [1, 2, 3]

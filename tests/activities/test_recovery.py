"""`recover_turns` against a real redis-server: the turns a worker published to the live transcript
that the workflow never received, in order, each once; unreadable entries are skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from temporalio.testing import ActivityEnvironment

from activities.recovery import RecoveryActivities
from realtime.live import RedisLiveTranscript, turns_key
from workflows.contracts import RecoverTurnsInput, Turn, TurnTimings


@pytest.fixture
async def redis_client(redis_port: int) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host="127.0.0.1", port=redis_port, decode_responses=True)
    yield client
    await client.aclose()


def turn(sequence: int) -> Turn:
    return Turn(
        sequence=sequence,
        caller_text=f"caller {sequence}",
        agent_text=f"agent {sequence}",
        agent="default",
        timings=TurnTimings(voice_to_voice_ms=400.0 + sequence),
    )


async def test_missing_turns_come_back_from_the_live_transcript(redis_client: aioredis.Redis) -> None:
    async with RedisLiveTranscript(redis_client) as live:
        for sequence in (1, 2, 3, 2):  # a republished turn counts once
            live.publish("corr-1", turn(sequence))
    await redis_client.rpush(turns_key("corr-1"), "not json", '{"call_id": "corr-1"}')
    activities = RecoveryActivities(redis_client)

    recovered = await ActivityEnvironment().run(
        activities.recover_turns, RecoverTurnsInput(correlation_id="corr-1", known_sequences=[1])
    )
    assert recovered.turns == [turn(2), turn(3)]
    assert recovered.turns[0].timings.voice_to_voice_ms == 402.0


async def test_nothing_to_recover_for_an_unknown_call(redis_client: aioredis.Redis) -> None:
    activities = RecoveryActivities(redis_client)
    recovered = await ActivityEnvironment().run(activities.recover_turns, RecoverTurnsInput(correlation_id="none"))
    assert recovered.turns == []

"""Live transcript publishing against a real redis-server on a loopback port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from realtime.live import InMemoryLiveTranscript, RedisLiveTranscript, channel_key, turns_key
from tests.conftest import free_port
from workflows.contracts import Turn, TurnTimings


@pytest.fixture
async def redis_client(redis_port: int) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host="127.0.0.1", port=redis_port, decode_responses=True)
    yield client
    await client.aclose()


def turn(sequence: int) -> Turn:
    return Turn(sequence=sequence, caller_text="hi", agent_text="hello", agent="intake",
                timings=TurnTimings(voice_to_voice_ms=420.0))


async def test_turns_are_published_on_the_call_channel_and_kept_in_an_expiring_list(
    redis_client: aioredis.Redis,
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(channel_key("c1"))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    async with RedisLiveTranscript(redis_client, ttl_seconds=120) as live:
        live.publish("c1", turn(1))
        live.publish("c1", turn(2))
        message = None
        async with asyncio.timeout(5):
            while message is None:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    first = json.loads(message["data"])
    assert first["call_id"] == "c1" and first["turn"]["sequence"] == 1
    assert first["turn"]["timings"]["voice_to_voice_ms"] == 420.0
    stored = [json.loads(item)["turn"]["sequence"] for item in await redis_client.lrange(turns_key("c1"), 0, -1)]
    assert stored == [1, 2]
    assert 0 < await redis_client.ttl(turns_key("c1")) <= 120
    await pubsub.aclose()


async def test_publish_never_blocks_and_drops_when_redis_is_down() -> None:
    client = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    async with RedisLiveTranscript(client, attempts=2, retry_delay=0.01, op_timeout=0.5, maxsize=2) as live:
        started = time.monotonic()
        for sequence in range(5):
            live.publish("c2", turn(sequence))  # never raises, never waits
        assert time.monotonic() - started < 0.01
        async with asyncio.timeout(5):
            while live.dropped < 5:
                await asyncio.sleep(0.02)
    assert live.sent == 0
    await client.aclose()


def test_in_memory_live_transcript_keeps_turns_per_call() -> None:
    live = InMemoryLiveTranscript()
    live.publish("a", turn(1))
    live.publish("b", turn(1))
    live.publish("a", turn(2))
    assert [t.sequence for t in live.turns("a")] == [1, 2]

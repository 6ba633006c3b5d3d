"""The live session state the realtime worker keeps in Redis (and `GET /calls/{id}/live-state`
reads): written on bind, on an agent change and on close, never blocking the caller; keys expire."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from realtime.live_state import LiveState, RedisLiveState, live_state_key, read_live_state
from realtime.server import AgentTrackingLive
from workflows.contracts import Turn


async def test_bind_agent_change_and_close_are_written_with_a_ttl(redis_port: int) -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{redis_port}/0")
    try:
        async with RedisLiveState(redis, ttl_seconds=60) as store:
            store.bound("c1", worker_id="w-1", agent="intake")
            live = AgentTrackingLive(None, store, "intake")
            live.publish("c1", Turn(sequence=1, agent="intake"))
            live.publish("c1", Turn(sequence=2, agent="claims"))  # a handoff
        assert await read_live_state(redis, "c1") == LiveState(worker="w-1", agent="claims", media="active")
        async with RedisLiveState(redis, ttl_seconds=60) as store:
            store.closed("c1", reason="socket_closed")
        assert await read_live_state(redis, "c1") == LiveState(
            worker="w-1", agent="claims", media="ended:socket_closed"
        )
        assert 0 < await redis.ttl(live_state_key("c1", "worker")) <= 60
    finally:
        await redis.aclose()


async def test_keys_expire(redis_port: int) -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{redis_port}/0")
    try:
        async with RedisLiveState(redis, ttl_seconds=1) as store:
            store.bound("c2", worker_id="w-1", agent="default")
        assert await read_live_state(redis, "c2") is not None
        await asyncio.sleep(1.6)
        assert await read_live_state(redis, "c2") is None
    finally:
        await redis.aclose()


async def test_redis_down_never_blocks_or_raises() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        async with RedisLiveState(redis, op_timeout=0.3) as store:
            loop = asyncio.get_running_loop()
            started = loop.time()
            store.bound("c3", worker_id="w-1", agent="default")
            store.closed("c3", reason="socket_closed")
            assert loop.time() - started < 0.05
    finally:
        await redis.aclose()

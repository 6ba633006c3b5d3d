"""Live session state in Redis: which worker holds a call's media and which agent is talking.

    switchboard:call:{call_id}:worker   the worker id holding the media socket
    switchboard:call:{call_id}:agent    the agent talking (set on bind, updated when a turn's agent changes)
    switchboard:call:{call_id}:media    "active" while bound, "ended:<reason>" after

The realtime worker writes these on bind and on close, each with a TTL (call + 1 h by default), so
nothing outlives the call for long. The methods never block and never raise: each write runs in a
task the store owns, bounded by a timeout, so Redis being slow or down never holds up a call (use
the store as `async with`; leaving it waits briefly for writes in flight).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

logger = logging.getLogger(__name__)

FIELDS = ("worker", "agent", "media")


def live_state_key(call_id: str, field: str) -> str:
    return f"switchboard:call:{call_id}:{field}"


@dataclass(frozen=True)
class LiveState:
    worker: str = ""
    agent: str = ""
    media: str = ""


class LiveStateStore(Protocol):
    def bound(self, call_id: str, *, worker_id: str, agent: str) -> None: ...

    def agent_changed(self, call_id: str, agent: str) -> None: ...

    def closed(self, call_id: str, *, reason: str) -> None: ...


class RedisLiveState:
    def __init__(self, client: Any, *, ttl_seconds: int = 3600, op_timeout: float = 0.5) -> None:
        self._client = client
        self.ttl_seconds = ttl_seconds
        self.op_timeout = op_timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Task[None]] = {}  # each call's latest write

    def bound(self, call_id: str, *, worker_id: str, agent: str) -> None:
        self._spawn(call_id, {"worker": worker_id, "agent": agent, "media": "active"})

    def agent_changed(self, call_id: str, agent: str) -> None:
        self._spawn(call_id, {"agent": agent})

    def closed(self, call_id: str, *, reason: str) -> None:
        self._spawn(call_id, {"media": f"ended:{reason}"}, refresh=("worker", "agent"))

    def _spawn(self, call_id: str, values: dict[str, str], *, refresh: tuple[str, ...] = ()) -> None:
        """One task per write; a call's writes are applied in the order they were made."""
        previous = self._last.get(call_id)
        task = asyncio.get_running_loop().create_task(self._after(previous, call_id, values, refresh))
        self._last[call_id] = task
        self._tasks.add(task)
        task.add_done_callback(partial(self._done, call_id))

    def _done(self, call_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(call_id) is task:
            del self._last[call_id]

    async def _after(
        self, previous: asyncio.Task[None] | None, call_id: str, values: dict[str, str], refresh: tuple[str, ...]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await self._set(call_id, values, refresh=refresh)

    async def __aenter__(self) -> RedisLiveState:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.op_timeout * 2)
        for task in set(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _set(self, call_id: str, values: dict[str, str], *, refresh: tuple[str, ...] = ()) -> None:
        try:
            await asyncio.wait_for(self._write(call_id, values, refresh), self.op_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best-effort: the workflow holds the state of record
            logger.warning("live state of call %s not written: %s", call_id, exc)

    async def _write(self, call_id: str, values: dict[str, str], refresh: tuple[str, ...]) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            for field, value in values.items():
                pipe.set(live_state_key(call_id, field), value, ex=self.ttl_seconds)
            for field in refresh:
                pipe.expire(live_state_key(call_id, field), self.ttl_seconds)
            await pipe.execute()


async def read_live_state(client: Any, call_id: str) -> LiveState | None:
    """What Redis holds for the call, or None when nothing is there (never bound, or expired)."""
    values = await client.mget([live_state_key(call_id, field) for field in FIELDS])
    if not any(values):
        return None
    decoded = [v.decode() if isinstance(v, bytes) else (v or "") for v in values]
    return LiveState(**dict(zip(FIELDS, decoded, strict=True)))

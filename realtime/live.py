"""Live transcript publishing for dashboards: each finished turn goes to Redis, on a pub/sub
channel per call and appended to a per-call list that expires.

`publish` never blocks and never raises: it puts the turn on a bounded queue that one sender task
drains. When Redis is slow or down, turns wait, are retried a few times, and then are dropped (and
counted): the live view is best-effort, while the turn of record travels to the workflow through
the bridge independently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from workflows.contracts import Turn

logger = logging.getLogger(__name__)


def channel_key(call_id: str) -> str:
    return f"switchboard:call:{call_id}:live"


def turns_key(call_id: str) -> str:
    return f"switchboard:call:{call_id}:turns"


def turn_message(call_id: str, turn: Turn) -> str:
    return json.dumps({"call_id": call_id, "turn": asdict(turn)}, separators=(",", ":"))


class LiveTranscript(Protocol):
    def publish(self, call_id: str, turn: Turn) -> None: ...


@dataclass(frozen=True)
class PublishedTurn:
    call_id: str
    turn: Turn


class InMemoryLiveTranscript:
    """Keeps what was published, for tests and for a worker without Redis."""

    def __init__(self) -> None:
        self.published: list[PublishedTurn] = []

    def publish(self, call_id: str, turn: Turn) -> None:
        self.published.append(PublishedTurn(call_id, turn))

    def turns(self, call_id: str) -> list[Turn]:
        return [p.turn for p in self.published if p.call_id == call_id]


class RedisLiveTranscript:
    """Publishes through `redis.asyncio`. Use as `async with` (starts and stops the sender task)."""

    def __init__(
        self,
        client: Any,
        *,
        ttl_seconds: int = 3600,
        maxsize: int = 1000,
        attempts: int = 3,
        retry_delay: float = 0.2,
        op_timeout: float = 1.0,
    ) -> None:
        self._client = client
        self.ttl_seconds = ttl_seconds
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.op_timeout = op_timeout
        self._queue: asyncio.Queue[PublishedTurn] = asyncio.Queue(maxsize=maxsize)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0

    def publish(self, call_id: str, turn: Turn) -> None:
        try:
            self._queue.put_nowait(PublishedTurn(call_id, turn))
        except asyncio.QueueFull:
            self.dropped += 1

    async def __aenter__(self) -> RedisLiveTranscript:
        self._task = asyncio.create_task(self._run(), name="live-transcript")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), timeout=1.0)
        except TimeoutError:
            pass
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._deliver(item)
            finally:
                self._queue.task_done()

    async def _deliver(self, item: PublishedTurn) -> None:
        message = turn_message(item.call_id, item.turn)
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.wait_for(self._write(item.call_id, message), self.op_timeout)
                self.sent += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or slow: retry a little, then drop
                if attempt == self.attempts:
                    self.dropped += 1
                    logger.warning("live transcript for call %s dropped: %s", item.call_id, exc)
                    return
                await asyncio.sleep(self.retry_delay * attempt)

    async def _write(self, call_id: str, message: str) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.rpush(turns_key(call_id), message)
            pipe.expire(turns_key(call_id), self.ttl_seconds)
            pipe.publish(channel_key(call_id), message)
            await pipe.execute()

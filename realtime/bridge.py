"""What the realtime loop tells the call workflow, and how it gets there without blocking audio.

The media session calls `CallBridge` methods; they only enqueue (never await Temporal). A single
sender task per worker drains the bounded queue and signals the workflow, retrying with backoff
while Temporal is slow or restarting. The workflow deduplicates turns by sequence number, so a
retried signal is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from workflows.contracts import CallEnded, MediaAttached, Turn

logger = logging.getLogger(__name__)


class CallBridge(Protocol):
    """The per-call view of the bridge the media session uses."""

    def media_attached(self, event: MediaAttached) -> None: ...

    def turn_completed(self, turn: Turn) -> None: ...

    def call_ended(self, event: CallEnded) -> None: ...


@dataclass(frozen=True)
class PendingSignal:
    workflow_id: str
    name: str
    payload: Any


SignalSender = Callable[[PendingSignal], Awaitable[None]]


class BridgeOverflow(RuntimeError):
    """The outgoing signal queue is full: Temporal has been unreachable for a long time."""


class SignalQueue:
    """A bounded queue of workflow signals with one sender task that retries until delivered.

    `send` is the transport (a Temporal client's signal in production, a recorder in tests).
    Order is kept per worker: a signal is retried until it succeeds before the next is sent.
    """

    def __init__(
        self,
        send: SignalSender,
        *,
        maxsize: int = 1024,
        initial_backoff: float = 0.05,
        max_backoff: float = 2.0,
    ) -> None:
        self._send = send
        self._queue: asyncio.Queue[PendingSignal] = asyncio.Queue(maxsize=maxsize)
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.retries = 0

    def put(self, signal: PendingSignal) -> None:
        try:
            self._queue.put_nowait(signal)
        except asyncio.QueueFull as exc:
            raise BridgeOverflow(f"signal queue full ({self._queue.maxsize}); dropping {signal.name}") from exc

    def for_call(self, workflow_id: str) -> QueuedCallBridge:
        return QueuedCallBridge(self, workflow_id)

    async def __aenter__(self) -> SignalQueue:
        self._task = asyncio.create_task(self._run(), name="signal-queue")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.drain(timeout=5.0)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def drain(self, *, timeout: float) -> bool:  # noqa: ASYNC109 - a wait bound callers pass, not an op timeout
        """Wait until every queued signal is delivered, or `timeout` passes. True when drained."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
            return True
        except TimeoutError:
            return False

    def pending(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        while True:
            signal = await self._queue.get()
            try:
                await self._deliver(signal)
            finally:
                self._queue.task_done()

    async def _deliver(self, signal: PendingSignal) -> None:
        backoff = self._initial_backoff
        while True:
            try:
                await self._send(signal)
                self.delivered += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any transport failure is retried; the workflow dedupes
                self.retries += 1
                logger.warning("signal %s to %s failed (%s); retrying", signal.name, signal.workflow_id, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)


class QueuedCallBridge:
    def __init__(self, queue: SignalQueue, workflow_id: str) -> None:
        self._queue = queue
        self.workflow_id = workflow_id

    def media_attached(self, event: MediaAttached) -> None:
        self._queue.put(PendingSignal(self.workflow_id, "media_attached", event))

    def turn_completed(self, turn: Turn) -> None:
        self._queue.put(PendingSignal(self.workflow_id, "turn_completed", turn))

    def call_ended(self, event: CallEnded) -> None:
        self._queue.put(PendingSignal(self.workflow_id, "call_ended", event))

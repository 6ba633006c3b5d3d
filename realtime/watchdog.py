"""The media watchdog: how a call's workflow learns that the realtime worker holding it died.

For every media session it holds, the worker runs one long activity, `hold_media_session`, on its
own task queue (one queue per worker process). The activity heartbeats while the session is open
and returns when it closes. If the process dies, the heartbeats stop, Temporal times the activity
out, and the workflow recovers the call (DESIGN 2.8). Nothing here is on the audio path: the
registry is told of opens and closes, and the activity only waits.

    registry = MediaSessionRegistry()
    watchdog = MediaWatchdog(registry)
    async with WatchdogWorker(connect, task_queue=media_task_queue(base, worker_id), watchdog=watchdog): ...
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from workflows.contracts import HoldMediaInput, MediaHeld

logger = logging.getLogger(__name__)

# Sessions closed before their watchdog activity started must still be answered "ended".
CLOSED_SESSIONS_REMEMBERED = 4096


@dataclass
class _Session:
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""


class MediaSessionRegistry:
    """The media sessions one worker holds, and how recently closed ones ended. Owned by the app."""

    def __init__(self) -> None:
        self._open: dict[str, _Session] = {}
        self._closed: OrderedDict[str, str] = OrderedDict()

    def opened(self, session_id: str) -> None:
        self._open[session_id] = _Session()

    def closed(self, session_id: str, reason: str) -> None:
        session = self._open.pop(session_id, None)
        if session is not None:
            session.reason = reason
            session.closed.set()
        self._closed[session_id] = reason
        while len(self._closed) > CLOSED_SESSIONS_REMEMBERED:
            self._closed.popitem(last=False)

    def holds(self, session_id: str) -> bool:
        return session_id in self._open

    async def wait_closed(self, session_id: str, timeout: float) -> str | None:  # noqa: ASYNC109 - the heartbeat period
        """The close reason once `session_id` is closed (at once if it already was); None while open.
        A session this worker never had is reported as closed with reason "unknown_session"."""
        if session_id in self._closed:
            return self._closed[session_id]
        session = self._open.get(session_id)
        if session is None:
            return "unknown_session"
        try:
            await asyncio.wait_for(session.closed.wait(), timeout)
        except TimeoutError:
            return None
        return session.reason


class MediaWatchdog:
    """The activity a call's workflow runs on the worker holding its media."""

    def __init__(self, registry: MediaSessionRegistry) -> None:
        self._registry = registry

    @activity.defn(name="hold_media_session")
    async def hold_media_session(self, request: HoldMediaInput) -> MediaHeld:
        held = self._registry.holds(request.session_id)
        period = max(0.1, request.heartbeat_seconds)
        while True:
            activity.heartbeat()
            reason = await self._registry.wait_closed(request.session_id, period)
            if reason is not None:
                return MediaHeld(session_id=request.session_id, held=held or reason != "unknown_session", reason=reason)


def media_task_queue(base: str, worker_id: str) -> str:
    """Each realtime worker process polls its own queue: a watchdog must run where the media is."""
    return f"{base}-media-{worker_id}"


class WatchdogWorker:
    """Runs the watchdog's Temporal worker in the realtime process, connecting (and reconnecting) in
    the background so the media server starts and serves calls while Temporal is unreachable."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Client]],
        *,
        task_queue: str,
        watchdog: MediaWatchdog,
        max_calls: int = 10_000,
    ) -> None:
        self._connect = connect
        self._task_queue = task_queue
        self._watchdog = watchdog
        self._max_calls = max_calls
        self._task: asyncio.Task[None] | None = None
        self.running = asyncio.Event()

    async def __aenter__(self) -> WatchdogWorker:
        self._task = asyncio.create_task(self._run(), name="media-watchdog-worker")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                client = await self._connect()  # a worker needs a connected (not lazy) client
                worker = Worker(
                    client,
                    task_queue=self._task_queue,
                    activities=[self._watchdog.hold_media_session],
                    max_concurrent_activities=self._max_calls,
                )
                self.running.set()
                delay = 0.2
                await worker.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Temporal unreachable or the worker failed: retry with backoff
                self.running.clear()
                logger.warning("media watchdog on %s stopped (%s); retrying in %.1fs", self._task_queue, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

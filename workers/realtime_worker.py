"""The realtime media worker process: an ASGI WebSocket server ACS streams call audio to.

Audio never waits on Temporal: turns and lifecycle signals go through a bounded, retrying queue;
actions (hang up, durable tools) are Temporal updates awaited only by the task that asked.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from activities.storage import build_blob_store
from agents.config import load_scenario
from realtime.actions import WorkflowCallActions
from realtime.bridge import PendingSignal, SignalQueue
from realtime.engines.factory import build_engines
from realtime.live import RedisLiveTranscript
from realtime.live_state import RedisLiveState
from realtime.server import RealtimeConfig, create_realtime_app
from realtime.session import SessionConfig
from realtime.watchdog import MediaSessionRegistry, MediaWatchdog, WatchdogWorker, media_task_queue
from switchboard.logging import configure_logging
from switchboard.settings import Settings, get_settings

logger = logging.getLogger(__name__)


class LazyTemporal:
    """A Temporal client connected lazily, so the worker starts (and keeps audio flowing) while
    Temporal is down; the signal queue retries until it is back."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(
                self._settings.temporal.address, namespace=self._settings.temporal.namespace, lazy=True
            )
        return self._client

    async def connect_for_worker(self) -> Client:
        """A connected client for the media watchdog's worker (workers cannot use lazy clients)."""
        return await Client.connect(self._settings.temporal.address, namespace=self._settings.temporal.namespace)

    async def signal(self, signal: PendingSignal) -> None:
        client = await self.client()
        await client.get_workflow_handle(signal.workflow_id).signal(signal.name, signal.payload)

    async def execute_update(self, workflow_id: str, update: str, payload: Any, result_type: type) -> Any:
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id)
        return await handle.execute_update(update, payload, result_type=result_type)


def session_config(settings: Settings) -> SessionConfig:
    """Calls start with the scenario's entry agent (unless the transport URL names another)."""
    rate = 24000 if settings.acs.audio_format == "pcm24KMono" else 16000
    return SessionConfig(
        carrier_rate=rate,
        recording_max_seconds=settings.realtime.recording_max_seconds,
        default_agent=load_scenario(settings.agents.config_dir, scenario=settings.agents.scenario).entry,
    )


def build_app(settings: Settings) -> FastAPI:
    temporal = LazyTemporal(settings)
    signals = SignalQueue(temporal.signal, maxsize=settings.realtime.signal_queue_size)
    engines = build_engines(settings)
    redis_client = aioredis.from_url(settings.redis.url, socket_connect_timeout=1, socket_timeout=1)
    live = RedisLiveTranscript(redis_client, ttl_seconds=settings.redis.live_ttl_seconds)
    live_state = RedisLiveState(redis_client, ttl_seconds=settings.redis.live_ttl_seconds)
    recordings = build_blob_store(settings)
    config = RealtimeConfig(
        media_token_secret=settings.acs.media_token_secret.get_secret_value(),
        session=session_config(settings),
    )
    config.task_queue = media_task_queue(settings.temporal.task_queue, config.worker_id)
    held_sessions = MediaSessionRegistry()
    app = create_realtime_app(
        config,
        signals,
        engines,
        actions=lambda workflow_id: WorkflowCallActions(workflow_id, temporal.execute_update),
        live=live,
        recordings=recordings,
        live_state=live_state,
        held_sessions=held_sessions,
    )
    app.state.worker_id = config.worker_id
    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            warm_up = getattr(engines.recognizer, "warm_up", None)
            if warm_up is not None:
                await warm_up(2)
            await stack.enter_async_context(live)
            stack.push_async_callback(redis_client.aclose)
            await stack.enter_async_context(recordings)
            await stack.enter_async_context(live_state)
            watchdog = WatchdogWorker(
                temporal.connect_for_worker, task_queue=config.task_queue, watchdog=MediaWatchdog(held_sessions)
            )
            await stack.enter_async_context(watchdog)
            for engine in (engines.recognizer, engines.brains):
                close = getattr(engine, "aclose", None)
                if close is not None:
                    stack.push_async_callback(close)
            async with inner_lifespan(application):
                yield

    app.router.lifespan_context = lifespan
    return app


def main() -> None:
    configure_logging()
    settings = get_settings()
    uvicorn.run(
        build_app(settings),
        host=settings.realtime.host,
        port=settings.realtime.port,
        log_level="warning",
        ws="websockets-sansio",
    )


if __name__ == "__main__":
    main()

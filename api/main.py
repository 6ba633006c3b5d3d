"""Build the API app. Thin: settings, the Temporal client and the Redis client go into app state;
routers do the work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from temporalio.client import Client

from api.routes import acs_events, audit, calls, claims, dashboard, health
from switchboard.settings import Settings, get_settings

DESCRIPTION = """Switchboard's webhooks (ACS / Event Grid, each with its own authentication) and the
back-office API. Back-office routes need an API key (`X-API-Key` or `Authorization: Bearer`) whose
role is staff (read, act), auditor (read, audit) or admin (everything); see `api/auth.py`."""


def create_app(
    settings: Settings | None = None, *, temporal_client: Client | None = None, redis_client: Any | None = None
) -> FastAPI:
    """The API app. Without a client, one is connected at start-up from `settings.temporal`; without
    a Redis client, one is made from `settings.redis.url` (for the live transcript feed)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if temporal_client is None:
            app.state.temporal_client = await Client.connect(
                settings.temporal.address, namespace=settings.temporal.namespace
            )
        owned_redis = None
        if redis_client is None:
            from redis.asyncio import Redis

            owned_redis = app.state.redis = Redis.from_url(settings.redis.url)
        try:
            yield
        finally:
            if owned_redis is not None:
                await owned_redis.aclose()

    app = FastAPI(title="Switchboard API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.temporal_client = temporal_client
    app.state.redis = redis_client
    app.include_router(health.router)
    app.include_router(acs_events.router)
    app.include_router(calls.router)
    app.include_router(claims.router)
    app.include_router(audit.router)
    app.include_router(dashboard.router)
    return app

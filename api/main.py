"""Build the API app. Thin: settings and the Temporal client go into app state; routers do the work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api.routes import acs_events, calls, health
from switchboard.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, temporal_client: Client | None = None) -> FastAPI:
    """The API app. Without a client, one is connected at start-up from `settings.temporal`."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if temporal_client is None:
            app.state.temporal_client = await Client.connect(
                settings.temporal.address, namespace=settings.temporal.namespace
            )
        yield

    app = FastAPI(title="Switchboard API", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.temporal_client = temporal_client
    app.include_router(health.router)
    app.include_router(acs_events.router)
    app.include_router(calls.router)
    return app

"""Typed dependencies so route signatures read like contracts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from temporalio.client import Client

from activities.storage import CallArchive, build_archive
from switchboard.settings import Settings


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_temporal_client(request: Request) -> Client:
    client: Client = request.app.state.temporal_client
    return client


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
TemporalClientDep = Annotated[Client, Depends(get_temporal_client)]


def get_redis(request: Request) -> Any:
    """The app's `redis.asyncio` client (for the live transcript feed); 503 when there is none."""
    client = getattr(request.app.state, "redis", None)
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="live_feed_unavailable")
    return client


async def get_archive(request: Request) -> AsyncIterator[CallArchive]:
    """The archive the settings choose, opened for one request."""
    settings: Settings = request.app.state.settings
    async with build_archive(settings) as archive:
        yield archive


RedisDep = Annotated[Any, Depends(get_redis)]
ArchiveDep = Annotated[CallArchive, Depends(get_archive)]

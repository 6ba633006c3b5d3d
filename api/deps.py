"""Typed dependencies so route signatures read like contracts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from switchboard.settings import Settings


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_temporal_client(request: Request) -> Client:
    client: Client = request.app.state.temporal_client
    return client


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
TemporalClientDep = Annotated[Client, Depends(get_temporal_client)]

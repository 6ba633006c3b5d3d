"""Shared fixtures: a real Temporal dev server (the CLI `make setup` builds), free loopback ports,
and settings pointing the code under test at them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from switchboard.settings import SEARCH_ATTRIBUTES, Settings

_KEY_FACTORIES = {"Keyword": SearchAttributeKey.for_keyword, "Int": SearchAttributeKey.for_int}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A real redis-server on a free loopback port, for one test."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run `make setup`")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def temporal_cli() -> Path:
    path = Settings().temporal.cli_path
    if not path.exists():
        pytest.fail(f"Temporal CLI missing at {path}: run `make setup`")
    return path


@pytest.fixture(scope="session")
async def temporal_env(temporal_cli: Path) -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server for the session, with our search attributes registered."""
    keys = [_KEY_FACTORIES[kind](name) for name, kind in SEARCH_ATTRIBUTES.items()]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli),
        search_attributes=keys,
        dev_server_log_level="error",
    )
    async with env:
        yield env


@pytest.fixture
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def settings(tmp_path: Path, temporal_env: WorkflowEnvironment) -> Settings:
    """Settings for one test: unique task queue, free ports, data under tmp_path."""
    target = temporal_env.client.service_client.config.target_host
    api_port, realtime_port = free_port(), free_port()
    return Settings.model_validate(
        {
            "data_dir": tmp_path / "data",
            "temporal": {"address": target, "task_queue": f"calls-{free_port()}"},
            "acs": {
                "endpoint": f"http://127.0.0.1:{free_port()}",
                "callback_base_url": f"http://127.0.0.1:{api_port}",
                "media_base_url": f"ws://127.0.0.1:{realtime_port}",
            },
            "api": {"port": api_port},
            "realtime": {"port": realtime_port},
        }
    )

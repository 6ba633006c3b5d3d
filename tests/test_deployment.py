"""The multi-process deployment file is one Compose accepts, and names every process of the design."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_ENV = {
    "ACS_ENDPOINT": "https://example.communication.azure.com",
    "ACS_ACCESS_KEY": "a2V5",
    "PUBLIC_API_URL": "https://api.example.com",
    "PUBLIC_MEDIA_URL": "wss://media.example.com",
    "MEDIA_TOKEN_SECRET": "s3cret",
}


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed: run `make setup`")


def test_compose_config_is_accepted() -> None:
    result = subprocess.run(
        [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={**os.environ, **REQUIRED_ENV},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_the_secrets() -> None:
    result = subprocess.run(
        [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={key: value for key, value in os.environ.items() if key not in REQUIRED_ENV},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0


def test_compose_has_every_process_of_the_design() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"postgresql", "temporal", "temporal-ui", "redis", "api", "temporal-worker", "realtime-worker"} <= set(
        services
    )
    assert services["temporal"]["environment"]["DB"] == "postgres12"

"""Start and supervise the embedded stack on one machine.

Order: Temporal dev server (SQLite file, Web UI, our search attributes) -> redis-server -> ACS
emulator (development only) -> API -> Temporal worker -> realtime worker. Each child must pass its
health check before the next starts. A child that dies is reported with the tail of its log; the
stateless workers are restarted with backoff, a dead server stops the stack. Stopping sends
SIGTERM in reverse order, then SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import redis.asyncio as aioredis
from temporalio.client import Client

from switchboard.settings import SEARCH_ATTRIBUTES, Settings

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]


class StackFailed(RuntimeError):
    """A part of the stack could not start or died and could not be brought back."""


class MissingDependency(StackFailed):
    """A binary the stack needs is not installed; the message says how to get it."""


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    health: HealthCheck
    restart: bool = False
    start_timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    make_dirs: list[Path] = field(default_factory=list)


@dataclass
class _Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process
    log_path: Path
    restarts: list[float] = field(default_factory=list)


def http_health(url: str) -> HealthCheck:
    async def check() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def temporal_health(address: str, namespace: str) -> HealthCheck:
    async def check() -> bool:
        try:
            client = await asyncio.wait_for(Client.connect(address, namespace=namespace), 3)
            return await client.service_client.check_health()
        except Exception:  # not up yet: connection refused, timeout, RPC error
            return False

    return check


def redis_health(url: str) -> HealthCheck:
    async def check() -> bool:
        client = aioredis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except Exception:  # not up yet
            return False
        finally:
            await client.aclose()

    return check


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def stack_env(settings: Settings) -> dict[str, str]:
    """Environment that makes every child read the same settings as the supervisor."""
    return {
        "SWITCHBOARD_ENVIRONMENT": settings.environment,
        "SWITCHBOARD_DATA_DIR": str(settings.data_dir),
        "SWITCHBOARD_TEMPORAL__ADDRESS": settings.temporal.address,
        "SWITCHBOARD_TEMPORAL__NAMESPACE": settings.temporal.namespace,
        "SWITCHBOARD_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
        "SWITCHBOARD_TEMPORAL__WORKER_HEALTH_PORT": str(settings.temporal.worker_health_port),
        "SWITCHBOARD_ACS__ENDPOINT": settings.acs.endpoint,
        "SWITCHBOARD_ACS__CALLBACK_BASE_URL": settings.acs.callback_base_url,
        "SWITCHBOARD_ACS__MEDIA_BASE_URL": settings.acs.media_base_url,
        "SWITCHBOARD_API__HOST": settings.api.host,
        "SWITCHBOARD_API__PORT": str(settings.api.port),
        "SWITCHBOARD_REALTIME__HOST": settings.realtime.host,
        "SWITCHBOARD_REALTIME__PORT": str(settings.realtime.port),
        "SWITCHBOARD_REDIS__URL": settings.redis.url,
        "SWITCHBOARD_REALTIME__WATCHDOG_HEARTBEAT_TIMEOUT_SECONDS": str(
            settings.realtime.watchdog_heartbeat_timeout_seconds
        ),
        "SWITCHBOARD_REALTIME__RECOVERY_ACTION": settings.realtime.recovery_action,
        "SWITCHBOARD_REALTIME__WATCHDOG_CONFIRM_SECONDS": str(settings.realtime.watchdog_confirm_seconds),
        **({"SWITCHBOARD_AGENTS__SCENARIO": settings.agents.scenario} if settings.agents.scenario else {}),
        "SWITCHBOARD_ACS__SERVER_RECORDING": str(settings.acs.server_recording).lower(),
        **(
            {"SWITCHBOARD_ACS__RECORDING_STORAGE_REDIRECT": settings.acs.recording_storage_redirect}
            if settings.acs.recording_storage_redirect
            else {}
        ),
    }


def build_stack(settings: Settings, *, with_emulator: bool = True) -> list[ChildSpec]:
    temporal_bin = settings.temporal.cli_path
    if not temporal_bin.exists():
        raise MissingDependency(f"Temporal CLI not found at {temporal_bin}; run `make setup` to build it")
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise MissingDependency("redis-server is not installed (Debian package 'redis-server'); run `make setup`")

    data_dir = settings.data_dir
    temporal_host, temporal_port = _host_port(settings.temporal.address, 7233)
    redis_host, redis_port = _host_port(settings.redis.url, 6379)
    python = sys.executable
    specs = [
        ChildSpec(
            name="temporal",
            argv=[
                str(temporal_bin),
                "server",
                "start-dev",
                "--ip",
                temporal_host,
                "--port",
                str(temporal_port),
                "--ui-ip",
                temporal_host,
                "--ui-port",
                str(settings.temporal.ui_port),
                "--db-filename",
                str(data_dir / "temporal.db"),
                "--namespace",
                settings.temporal.namespace,
                "--log-level",
                "warn",
                *[arg for key, kind in SEARCH_ATTRIBUTES.items() for arg in ("--search-attribute", f"{key}={kind}")],
            ],
            health=temporal_health(settings.temporal.address, settings.temporal.namespace),
            start_timeout=90.0,
            make_dirs=[data_dir],
        ),
        ChildSpec(
            name="redis",
            argv=[
                redis_bin,
                "--bind",
                redis_host,
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(data_dir),
            ],
            health=redis_health(settings.redis.url),
            make_dirs=[data_dir],
        ),
    ]
    if with_emulator:
        emulator_host, emulator_port = _host_port(settings.acs.endpoint, 8300)
        specs.append(
            ChildSpec(
                name="acs-emulator",
                argv=[
                    python,
                    "-m",
                    "emulators.acs",
                    "--host",
                    emulator_host,
                    "--port",
                    str(emulator_port),
                    "--access-key",
                    settings.acs.access_key.get_secret_value(),
                    "--event-grid-url",
                    f"{settings.acs.callback_base_url.rstrip('/')}/api/events/eventgrid",
                ],
                health=http_health(f"{settings.acs.endpoint.rstrip('/')}/health"),
                restart=True,
            )
        )
    specs += [
        ChildSpec(
            name="api",
            argv=[python, "-m", "workers.api_server"],
            health=http_health(f"http://{settings.api.host}:{settings.api.port}/health"),
            restart=True,
        ),
        ChildSpec(
            name="temporal-worker",
            argv=[python, "-m", "workers.temporal_worker"],
            health=http_health(f"http://127.0.0.1:{settings.temporal.worker_health_port}/health"),
            restart=True,
        ),
        ChildSpec(
            name="realtime-worker",
            argv=[python, "-m", "workers.realtime_worker"],
            health=http_health(f"http://{settings.realtime.host}:{settings.realtime.port}/health"),
            restart=True,
        ),
    ]
    env = stack_env(settings)
    for spec in specs:
        spec.env = env
    return specs


class Supervisor:
    """`async with Supervisor(specs, log_dir) as stack: await stack.wait()`."""

    MAX_RESTARTS = 3
    RESTART_WINDOW = 60.0

    def __init__(self, specs: list[ChildSpec], *, log_dir: Path, report: Callable[[str], None] | None = None) -> None:
        self._specs = specs
        self._log_dir = log_dir
        self._children: dict[str, _Child] = {}
        self._report = report or (lambda line: logger.info("%s", line))
        self._stopping = False
        self._closed = False

    async def __aenter__(self) -> Supervisor:
        if self._closed:
            raise StackFailed("a supervisor cannot be started twice")
        self._log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self._specs:
            for directory in spec.make_dirs:
                directory.mkdir(parents=True, exist_ok=True)
        try:
            for spec in self._specs:
                await self._start(spec)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def pid(self, name: str) -> int | None:
        child = self._children.get(name)
        return child.process.pid if child else None

    async def _start(self, spec: ChildSpec, *, restarts: list[float] | None = None) -> None:
        log_path = self._log_dir / f"{spec.name}.log"
        log = log_path.open("ab")
        self._report(f"starting {spec.name}")
        try:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, **spec.env},
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
            )
        finally:
            log.close()
        self._children[spec.name] = _Child(spec, process, log_path, restarts or [])
        deadline = time.monotonic() + spec.start_timeout
        while not await spec.health():
            if process.returncode is not None:
                raise StackFailed(
                    f"{spec.name} exited with code {process.returncode} while starting:\n{self.log_tail(spec.name)}"
                )
            if time.monotonic() > deadline:
                raise StackFailed(
                    f"{spec.name} was not healthy after {spec.start_timeout:.0f}s:\n{self.log_tail(spec.name)}"
                )
            await asyncio.sleep(0.2)
        self._report(f"{spec.name} is up (pid {process.pid})")

    def log_tail(self, name: str, lines: int = 20) -> str:
        child = self._children.get(name)
        if child is None or not child.log_path.exists():
            return ""
        return "\n".join(child.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def wait(self) -> None:
        """Watch the children until stopped; restart what may be restarted, fail on the rest."""
        while not self._stopping:
            waits = {
                asyncio.create_task(child.process.wait(), name=name): name for name, child in self._children.items()
            }
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if self._stopping:
                return
            for task in done:
                await self._handle_exit(waits[task])

    async def _handle_exit(self, name: str) -> None:
        child = self._children[name]
        code = child.process.returncode
        self._report(f"CRASH: {name} exited with code {code}; last log lines:\n{self.log_tail(name)}")
        now = time.monotonic()
        recent = [t for t in child.restarts if now - t < self.RESTART_WINDOW]
        if not child.spec.restart or len(recent) >= self.MAX_RESTARTS:
            raise StackFailed(f"{name} exited with code {code} and will not be restarted")
        await asyncio.sleep(0.5 * (len(recent) + 1))
        await self._start(child.spec, restarts=[*recent, now])

    async def stop(self, *, grace: float = 10.0) -> None:
        self._stopping = True
        self._closed = True
        for name in reversed(list(self._children)):
            child = self._children[name]
            if child.process.returncode is not None:
                continue
            self._report(f"stopping {name}")
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.process.wait(), grace)
            except TimeoutError:
                self._report(f"{name} did not stop within {grace:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()

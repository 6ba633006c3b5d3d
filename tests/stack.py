"""The local stack in one test process: ACS emulator, API, Temporal worker and realtime worker on
loopback, against the session's real Temporal dev server and a real redis-server.

The Temporal worker and the realtime worker can also run as child processes (`worker_process=True`,
`realtime_process=True`) so a test can kill them with SIGKILL mid-call, as a crash would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from temporalio.client import Client, WorkflowHandle

from api.main import create_app
from emulators.acs import AcsEmulator
from switchboard.asgi import serve_in_loop
from switchboard.settings import Settings
from workers.realtime_worker import build_app as build_realtime_app
from workers.supervisor import http_health, stack_env
from workers.temporal_worker import call_worker
from workflows.contracts import CallState, call_workflow_id


@dataclass
class LocalStack:
    settings: Settings
    client: Client
    emulator: AcsEmulator
    realtime_app: FastAPI | None
    worker_process: asyncio.subprocess.Process | None = None
    realtime_process: asyncio.subprocess.Process | None = None
    _exit: AsyncExitStack = field(default_factory=AsyncExitStack)

    def handle(self, correlation_id: str) -> WorkflowHandle[object, CallState]:
        return self.client.get_workflow_handle(call_workflow_id(correlation_id), result_type=CallState)

    async def kill_worker(self) -> None:
        assert self.worker_process is not None, "the stack was started with an in-process worker"
        self.worker_process.send_signal(signal.SIGKILL)
        await self.worker_process.wait()

    async def start_worker_process(self) -> None:
        self.worker_process = await _start_process(
            "workers.temporal_worker", self.settings, f"http://127.0.0.1:{self.settings.temporal.worker_health_port}"
        )

    async def kill_realtime_worker(self) -> None:
        assert self.realtime_process is not None, "the stack was started with an in-process realtime worker"
        self.realtime_process.send_signal(signal.SIGKILL)
        await self.realtime_process.wait()

    async def start_realtime_process(self) -> None:
        self.realtime_process = await _start_process(
            "workers.realtime_worker", self.settings, f"http://127.0.0.1:{self.settings.realtime.port}"
        )


async def _start_process(module: str, settings: Settings, base_url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, **stack_env(settings)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, env=env, stdin=asyncio.subprocess.DEVNULL
    )
    healthy = http_health(f"{base_url}/health")
    async with asyncio.timeout(60):
        while not await healthy():
            assert process.returncode is None, f"{module} died while starting"
            await asyncio.sleep(0.1)
    return process


@asynccontextmanager
async def local_stack(
    settings: Settings,
    client: Client,
    *,
    worker_process: bool = False,
    realtime_process: bool = False,
    realtime_app: FastAPI | None = None,
) -> AsyncIterator[LocalStack]:
    """Everything a call touches, started in dependency order and stopped in reverse."""
    api_app = create_app(settings, temporal_client=client)
    realtime = None if realtime_process else realtime_app or build_realtime_app(settings)
    emulator = AcsEmulator(
        access_key=settings.acs.access_key.get_secret_value(),
        event_grid_url=f"{settings.acs.callback_base_url}/api/events/eventgrid",
        port=int(settings.acs.endpoint.rsplit(":", 1)[1]),
    )
    async with AsyncExitStack() as exit_stack:
        stack = LocalStack(settings=settings, client=client, emulator=emulator, realtime_app=realtime)
        await exit_stack.enter_async_context(serve_in_loop(api_app, port=settings.api.port))
        if realtime is None:
            await stack.start_realtime_process()
            exit_stack.push_async_callback(_stop_process, stack, "realtime_process")
        else:
            await exit_stack.enter_async_context(serve_in_loop(realtime, port=settings.realtime.port))
        await exit_stack.enter_async_context(emulator)
        if worker_process:
            await stack.start_worker_process()
            exit_stack.push_async_callback(_stop_process, stack, "worker_process")
        else:
            await exit_stack.enter_async_context(call_worker(client, settings))
        yield stack


async def _stop_process(stack: LocalStack, which: str) -> None:
    process: asyncio.subprocess.Process | None = getattr(stack, which)
    if process is None or process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def api_get(settings: Settings, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=settings.acs.callback_base_url, timeout=10) as http:
        return await http.get(path)

"""`switchboard dev` starts the embedded stack behind health checks, reports and restarts a crashed
worker, and stops every child on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from switchboard.settings import Settings
from tests.conftest import free_port
from workers.supervisor import MissingDependency, StackFailed, Supervisor, build_stack


def stack_settings(tmp_path: Path) -> Settings:
    api_port, realtime_port = free_port(), free_port()
    return Settings.model_validate(
        {
            "data_dir": tmp_path / "data",
            "temporal": {
                "address": f"127.0.0.1:{free_port()}",
                "ui_port": free_port(),
                "worker_health_port": free_port(),
            },
            "redis": {"url": f"redis://127.0.0.1:{free_port()}/0"},
            "acs": {
                "endpoint": f"http://127.0.0.1:{free_port()}",
                "callback_base_url": f"http://127.0.0.1:{api_port}",
                "media_base_url": f"ws://127.0.0.1:{realtime_port}",
            },
            "api": {"port": api_port},
            "realtime": {"port": realtime_port},
        }
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" not in status.read_text()


async def test_stack_starts_healthy_and_restarts_a_killed_worker(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path)
    reports: list[str] = []
    stack = Supervisor(build_stack(settings, with_emulator=False), log_dir=tmp_path / "logs", report=reports.append)
    async with stack:
        async with httpx.AsyncClient(timeout=5) as http:
            api = await http.get(f"http://127.0.0.1:{settings.api.port}/health")
            realtime = await http.get(f"http://127.0.0.1:{settings.realtime.port}/health")
            worker = await http.get(f"http://127.0.0.1:{settings.temporal.worker_health_port}/health")
            ui = await http.get(f"http://127.0.0.1:{settings.temporal.ui_port}/")
        assert api.json()["temporal"] == "ok"
        assert realtime.json()["status"] == "ok"
        assert worker.json()["status"] == "ok"
        assert ui.status_code == 200
        assert (settings.data_dir / "temporal.db").exists()

        old_pid = stack.pid("temporal-worker")
        assert old_pid is not None
        watcher = asyncio.create_task(stack.wait())
        os.kill(old_pid, signal.SIGKILL)
        async with asyncio.timeout(60):
            while stack.pid("temporal-worker") == old_pid or not any(
                "temporal-worker is up" in r for r in reports[-3:]
            ):
                await asyncio.sleep(0.2)
        assert any(r.startswith("CRASH: temporal-worker exited with code -9") for r in reports)
        assert not watcher.done()
        pids = [stack.pid(name) for name in ("temporal", "redis", "api", "temporal-worker", "realtime-worker")]
    await asyncio.gather(watcher, return_exceptions=True)
    assert all(pid is not None and not alive(pid) for pid in pids)


async def test_a_dead_server_fails_the_stack_loudly(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path)
    specs = [spec for spec in build_stack(settings, with_emulator=False) if spec.name == "redis"]
    async with Supervisor(specs, log_dir=tmp_path / "logs", report=lambda _: None) as stack:
        pid = stack.pid("redis")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(StackFailed, match="redis exited with code -9 and will not be restarted"):
            await asyncio.wait_for(stack.wait(), 10)


def test_missing_temporal_cli_is_a_clear_error(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path)
    settings.temporal.cli_path = tmp_path / "nope" / "temporal"
    with pytest.raises(MissingDependency, match="run `make setup`"):
        build_stack(settings)


async def test_switchboard_dev_stops_every_child_on_ctrl_c(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path)
    env = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(settings.data_dir),
        "SWITCHBOARD_TEMPORAL__ADDRESS": settings.temporal.address,
        "SWITCHBOARD_TEMPORAL__UI_PORT": str(settings.temporal.ui_port),
        "SWITCHBOARD_TEMPORAL__WORKER_HEALTH_PORT": str(settings.temporal.worker_health_port),
        "SWITCHBOARD_REDIS__URL": settings.redis.url,
        "SWITCHBOARD_ACS__ENDPOINT": settings.acs.endpoint,
        "SWITCHBOARD_ACS__CALLBACK_BASE_URL": settings.acs.callback_base_url,
        "SWITCHBOARD_ACS__MEDIA_BASE_URL": settings.acs.media_base_url,
        "SWITCHBOARD_API__PORT": str(settings.api.port),
        "SWITCHBOARD_REALTIME__PORT": str(settings.realtime.port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.cli",
        "dev",
        "--no-emulator",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(120):
        while not any("stack is up" in line for line in lines):
            line = (await process.stderr.readline()).decode()
            assert line, f"switchboard dev ended early: {lines}"
            lines.append(line)
    child_pids = [int(line.rsplit("pid ", 1)[1].rstrip(")\n")) for line in lines if " is up (pid " in line]
    assert len(child_pids) == 5
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(60):
        rest = (await process.stderr.read()).decode()
        assert await process.wait() == 0
    assert "stack stopped" in rest
    assert not [pid for pid in child_pids if alive(pid)]

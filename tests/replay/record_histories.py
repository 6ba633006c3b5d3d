"""Record the saved histories `test_replay.py` replays: real calls through the local stack (ACS
emulator, real Temporal dev server, redis), each history written as `temporal workflow show
--output json` writes it.

Not collected by default (the name has no `test_` prefix). Run it against the shipped code, from a
checkout of the release, when a workflow version ships:

    HISTORY_VERSION=v2 .venv/bin/pytest tests/replay/record_histories.py

(`HISTORY_VERSION` names the files, so older versions' histories stay.) Commit the new
`tests/replay/histories/*.json` with the release.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from temporalio.client import Client

from switchboard.settings import Settings
from tests.stack import local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallStatus, HangUpRequest

HISTORIES = Path(__file__).resolve().parent / "histories"
VERSION = os.environ.get("HISTORY_VERSION", "dev")


async def test_record_caller_hang_up_history(settings: Settings, temporal_client: Client, redis_port: int) -> None:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as stack:
        call = await stack.emulator.place_call(
            caller="+15551230101",
            callee="+15550009999",
            script=[
                {"wait_agent_done": {"quiet_ms": 500, "timeout": 20}},
                {"say": "my name is Jane Doe"},
                {"wait_agent_done": {"quiet_ms": 800, "timeout": 20}},
                {"hang_up": True},
            ],
        )
        state = await stack.handle(call.call_id).result()
        assert state.status == CallStatus.COMPLETED
        _save(temporal_client, settings, state.workflow_id, f"{VERSION}-caller-hang-up")


async def test_record_staff_hang_up_history(settings: Settings, temporal_client: Client, redis_port: int) -> None:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as stack:
        call = await stack.emulator.place_call(
            caller="+15551230102", callee="+15550009999", script=[{"silence": 60}, {"hang_up": True}]
        )
        await call.wait_for("media_opened", timeout=15)
        handle = stack.handle(call.call_id)
        await handle.execute_update(CallWorkflow.hang_up, HangUpRequest(reason="staff request", requested_by="staff"))
        state = await handle.result()
        assert state.status == CallStatus.COMPLETED
        _save(temporal_client, settings, state.workflow_id, f"{VERSION}-staff-hang-up")


async def test_record_recovered_call_history(settings: Settings, temporal_client: Client, redis_port: int) -> None:
    """The media watchdog's failure path: the realtime worker is killed mid-call, the call is
    apologised for over ACS and transferred to the human queue (status `recovered`)."""
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.realtime.watchdog_heartbeat_timeout_seconds = 2.0
    async with local_stack(settings, temporal_client, realtime_process=True) as stack:
        call = await stack.emulator.place_call(
            caller="+15551230103",
            callee="+15550009999",
            script=[{"wait_agent_done": {"quiet_ms": 500, "timeout": 30}}, {"silence": 60}, {"hang_up": True}],
        )
        handle = stack.handle(call.call_id)
        while not (await handle.query(CallWorkflow.state)).turns:
            await asyncio.sleep(0.2)
        await stack.kill_realtime_worker()
        state = await handle.result()
        assert state.status == CallStatus.RECOVERED
        _save(temporal_client, settings, state.workflow_id, f"{VERSION}-recovered")


def _save(client: Client, settings: Settings, workflow_id: str, name: str) -> None:
    """The history exactly as the Temporal CLI exports it."""
    shown = subprocess.run(
        [
            str(settings.temporal.cli_path),
            "workflow",
            "show",
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
            "--address",
            client.service_client.config.target_host,
            "--namespace",
            client.namespace,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    HISTORIES.mkdir(exist_ok=True)
    json.loads(shown.stdout)  # it is JSON
    (HISTORIES / f"{name}.json").write_text(shown.stdout)

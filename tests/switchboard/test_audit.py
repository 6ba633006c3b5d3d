"""Audit over a real finished call: export (history + record), replay against the current code,
histories written by `temporal workflow show --output json`, and hash verification catching a
tampered record — through the API and through `switchboard audit`."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from activities.archival import archive_record
from activities.storage import SqliteArchive, UpsertOutcome
from activities.storage.archive import CallFilter, default_sqlite_path
from switchboard.settings import DEV_API_KEYS, Settings
from tests.stack import LocalStack, local_stack
from workflows.contracts import CallState, CallStatus

pytestmark = pytest.mark.e2e

AUDITOR = {"X-API-Key": DEV_API_KEYS["auditor"]}
GREETING_THEN_HANG_UP = [
    {"wait_agent_done": {"quiet_ms": 500, "timeout": 20}},
    {"silence": 0.3},
    {"hang_up": True},
]


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


@pytest.fixture
async def api(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.settings.acs.callback_base_url, timeout=30) as http:
        yield http


async def finished_call(stack: LocalStack, caller: str) -> CallState:
    call = await stack.emulator.place_call(caller=caller, callee="+15550009999", script=GREETING_THEN_HANG_UP)
    state = await stack.handle(call.call_id).result()
    assert state.status == CallStatus.COMPLETED and state.archive_hash
    return state


async def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


def cli_env(stack: LocalStack) -> dict[str, str]:
    return {
        "SWITCHBOARD_TEMPORAL__ADDRESS": stack.client.service_client.config.target_host,
        "SWITCHBOARD_TEMPORAL__NAMESPACE": stack.client.namespace,
        "SWITCHBOARD_DATA_DIR": str(stack.settings.data_dir),
    }


async def switchboard(stack: LocalStack, *args: str) -> tuple[int, str]:
    return await run(sys.executable, "-m", "switchboard.cli", "audit", *args, env=cli_env(stack))


def tamper(stack: LocalStack, workflow_id: str) -> None:
    """Change an archived record behind the archive's back (its stored hash stays as it was)."""
    with sqlite3.connect(default_sqlite_path(stack.settings)) as db:
        (body,) = db.execute("SELECT body FROM calls WHERE workflow_id = ?", (workflow_id,)).fetchone()
        document = json.loads(body)
        document["end_reason"] = "nothing to see here"
        db.execute("UPDATE calls SET body = ? WHERE workflow_id = ?", (json.dumps(document), workflow_id))


async def test_api_exports_replays_and_verifies_a_finished_call_and_catches_tampering(
    stack: LocalStack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    state = await finished_call(stack, "+15551239001")
    workflow_id = state.workflow_id

    export = await api.get(f"/audit/calls/{workflow_id}/export", params={"replay": "true"}, headers=AUDITOR)
    assert export.status_code == 200, export.text
    body = export.json()
    events = body["history"]["events"]
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert body["record"]["workflow_id"] == workflow_id and body["record"]["content_hash"] == state.archive_hash
    assert body["record_verified"] is True and body["replay"]["verdict"] == "ok"

    replayed = await api.post(f"/audit/calls/{workflow_id}/replay", headers=AUDITOR)
    assert replayed.json() == {
        "workflow_id": workflow_id,
        "verdict": "ok",
        "error": "",
        "error_type": "",
        "events": len(events),
    }

    # A history as the Temporal CLI writes it, replayed by the API and by `switchboard audit replay`.
    code, shown = await run(
        str(stack.settings.temporal.cli_path),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        "--address",
        stack.client.service_client.config.target_host,
    )
    assert code == 0, shown
    history_file = tmp_path / "history.json"
    history_file.write_text(shown)
    uploaded = await api.post("/audit/replay", json=json.loads(shown), headers=AUDITOR)
    assert uploaded.status_code == 200 and uploaded.json()["verdict"] == "ok"
    code, out = await switchboard(stack, "replay", str(history_file))
    assert code == 0 and out.strip().endswith(f"{history_file}: ok"), out
    garbage = await api.post("/audit/replay", json={"events": []}, headers=AUDITOR)
    assert garbage.status_code == 422 and garbage.json()["detail"] == "invalid_history"

    # Archiving the same call again changes nothing: one record, one hash.
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        again = await archive.upsert(archive_record(state))
        assert again.outcome == UpsertOutcome.UNCHANGED and again.content_hash == state.archive_hash
        assert [r.workflow_id for r in await archive.list(CallFilter(caller="+15551239001"))] == [workflow_id]

    verified = await api.get(f"/audit/calls/{workflow_id}/verify", headers=AUDITOR)
    assert verified.json()["ok"] is True
    tamper(stack, workflow_id)
    verified = (await api.get(f"/audit/calls/{workflow_id}/verify", headers=AUDITOR)).json()
    assert verified["ok"] is False and verified["stored_hash"] == state.archive_hash
    assert verified["computed_hash"] != state.archive_hash
    assert (await api.get(f"/calls/{workflow_id}", headers=AUDITOR)).json()["record_verified"] is False
    code, out = await switchboard(stack, "verify", workflow_id)
    assert code == 1 and "TAMPERED" in out, out


async def test_cli_exports_a_call_then_replays_and_verifies_the_files(stack: LocalStack, tmp_path: Path) -> None:
    state = await finished_call(stack, "+15551239002")
    export_file, history_file = tmp_path / "export.json", tmp_path / "history.json"

    code, out = await switchboard(
        stack, "export", state.workflow_id, "--out", str(export_file), "--history-out", str(history_file), "--replay"
    )
    assert code == 0, out
    exported = json.loads(export_file.read_text())
    assert exported["replay"]["verdict"] == "ok" and exported["record_verified"] is True

    for args in (["replay", str(history_file), str(export_file)], ["replay", "--workflow-id", state.workflow_id]):
        code, out = await switchboard(stack, *args)
        assert code == 0 and "nondeterministic" not in out, out
    code, out = await switchboard(stack, "verify", "--file", str(export_file))
    assert code == 0 and f"{state.workflow_id}: ok" in out, out
    code, out = await switchboard(stack, "verify", state.workflow_id)
    assert code == 0, out

    exported["record"]["turns"] = []
    export_file.write_text(json.dumps(exported))
    code, out = await switchboard(stack, "verify", "--file", str(export_file))
    assert code == 1 and "TAMPERED" in out, out

"""The back-office API over a real call (ACS emulator, Temporal dev server, redis): search, one
call's state while it runs and its archived record after, the live transcript stream, the staff
hang-up, and claims from the archive."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from activities.storage import ClaimRecord, SqliteArchive
from activities.storage.archive import default_sqlite_path
from realtime.live import RedisLiveTranscript
from switchboard.settings import DEV_API_KEYS, Settings
from tests.stack import LocalStack, local_stack
from workflows.contracts import CallStatus, Turn

pytestmark = pytest.mark.e2e

STAFF = {"X-API-Key": DEV_API_KEYS["staff"]}
AUDITOR = {"X-API-Key": DEV_API_KEYS["auditor"]}


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


@pytest.fixture
async def api(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.settings.acs.callback_base_url, timeout=10) as http:
        yield http


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    event, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and data:
            yield event, json.loads(data)
            event, data = "message", ""


async def eventually_listed(api: httpx.AsyncClient, params: dict[str, str], workflow_id: str) -> dict[str, Any]:
    async with asyncio.timeout(15):  # visibility is eventually consistent
        while True:
            response = await api.get("/calls", params=params, headers=STAFF)
            assert response.status_code == 200, response.text
            found = [c for c in response.json()["calls"] if c["workflow_id"] == workflow_id]
            if found:
                return found[0]
            await asyncio.sleep(0.2)


async def test_a_live_call_is_searched_streamed_and_hung_up_by_staff_then_read_from_the_archive(
    stack: LocalStack, api: httpx.AsyncClient
) -> None:
    caller = f"+1555{uuid.uuid4().int % 10**7:07d}"
    call = await stack.emulator.place_call(caller=caller, callee="+15550009999", script=[{"silence": 60}])
    await call.wait_for("media_opened", timeout=15)
    workflow_id = stack.handle(call.call_id).id

    listed = await eventually_listed(api, {"caller": caller, "status": "connected"}, workflow_id)
    assert listed["execution_status"] == "RUNNING" and listed["caller"] == caller

    running = (await api.get(f"/calls/{workflow_id}", headers=AUDITOR)).json()
    assert running["source"] == "workflow" and running["running"] is True
    assert running["status"] == "connected" and running["state"]["media_active"] is True

    # The live feed: what is already in the Redis list, then what is published while we listen.
    # (The realtime worker publishes the call's own turns too, e.g. the greeting, whenever they finish.)
    redis = Redis.from_url(stack.settings.redis.url)
    try:
        async with RedisLiveTranscript(redis) as live:
            live.publish(call.call_id, Turn(sequence=40, caller_text="before", agent_text="already said"))
        async with api.stream("GET", f"/calls/{workflow_id}/live", headers=STAFF) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
            async with asyncio.timeout(15):
                assert (await anext(events))[0] == "ready"
                seen = [(await anext(events))[1]["turn"]]
                while seen[-1]["sequence"] != 40:
                    seen.append((await anext(events))[1]["turn"])
                async with RedisLiveTranscript(redis) as live:
                    live.publish(call.call_id, Turn(sequence=40, agent_text="a repeat is dropped"))
                    live.publish(call.call_id, Turn(sequence=41, caller_text="hello", agent_text="hi there"))
                while seen[-1]["sequence"] != 41:
                    seen.append((await anext(events))[1]["turn"])
    finally:
        await redis.aclose()
    by_sequence = {turn["sequence"]: turn for turn in seen}
    assert [t["sequence"] for t in seen].count(40) == 1 and by_sequence[40]["agent_text"] == "already said"
    assert by_sequence[41]["agent_text"] == "hi there"

    hang_up = await api.post(f"/calls/{workflow_id}/hang-up", json={"reason": "abusive caller"}, headers=STAFF)
    assert hang_up.status_code == 200, hang_up.text
    assert hang_up.json() == {
        "workflow_id": workflow_id,
        "accepted": True,
        "status": "ending",
        "requested_by": "dev-staff",
    }
    state = await stack.handle(call.call_id).result()
    assert state.status == CallStatus.COMPLETED and state.end_reason == "hang_up:staff:abusive caller"

    again = await api.post(f"/calls/{workflow_id}/hang-up", json={}, headers=STAFF)
    assert again.status_code == 409 and again.json()["detail"] == "call_not_running"

    archived = (await api.get(f"/calls/{workflow_id}", headers=STAFF)).json()
    assert archived["source"] == "archive" and archived["running"] is False
    assert archived["record_verified"] is True and archived["content_hash"] == state.archive_hash
    assert archived["end_reason"] == "hang_up:staff:abusive caller"
    assert [t["sequence"] for t in archived["turns"]] == [t.sequence for t in state.turns]

    completed = await eventually_listed(api, {"caller": caller, "status": "completed"}, workflow_id)
    assert completed["execution_status"] == "COMPLETED" and completed["duration_seconds"] is not None


async def test_claims_are_listed_and_read_from_the_archive(stack: LocalStack, api: httpx.AsyncClient) -> None:
    claim = ClaimRecord(
        claim_id="CLM-TEST-1",
        workflow_id="call-abc",
        caller="+15551230001",
        created_at="2026-11-24T10:00:00+00:00",
        details={"policy_number": "PA123456"},
        events=[{"type": "filed", "at": "2026-11-24T10:00:00+00:00"}],
    )
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        await archive.upsert_claim(claim)

    listed = await api.get("/claims", params={"caller": "+15551230001"}, headers=AUDITOR)
    assert listed.status_code == 200
    assert [c["claim_id"] for c in listed.json()["claims"]] == ["CLM-TEST-1"]
    one = (await api.get("/claims/CLM-TEST-1", headers=STAFF)).json()
    assert one["details"] == {"policy_number": "PA123456"} and one["record_verified"] is True
    assert len(one["events"]) == 1
    missing = await api.get("/claims/CLM-NOPE", headers=STAFF)
    assert missing.status_code == 404 and missing.json()["detail"] == "claim_not_found"

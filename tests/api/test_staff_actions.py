"""Back-office staff actions over a real call (ACS emulator, Temporal dev server, redis): transfer
(the `request_transfer` update), the live session state in Redis, outbound calls, and a claim
follow-up's documents and adjuster (signals). Auditors read but do not act: 403."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from activities.storage import ClaimRecord, SqliteArchive
from activities.storage.archive import default_sqlite_path
from emulators.acs.script import load_script
from switchboard.settings import DEV_API_KEYS, Settings
from tests.stack import LocalStack, local_stack
from workflows.claim_follow_up import ClaimFollowUpWorkflow
from workflows.contracts import CallStatus, ClaimFollowUpInput, FollowUpPolicy, claim_follow_up_workflow_id

pytestmark = pytest.mark.e2e

STAFF = {"X-API-Key": DEV_API_KEYS["staff"]}
AUDITOR = {"X-API-Key": DEV_API_KEYS["auditor"]}
HUMAN_QUEUE = "+15550100100"


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


@pytest.fixture
async def api(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.settings.acs.callback_base_url, timeout=20) as http:
        yield http


async def live_state(api: httpx.AsyncClient, workflow_id: str, *, media: str) -> dict[str, str]:
    async with asyncio.timeout(10):
        while True:
            response = await api.get(f"/calls/{workflow_id}/live-state", headers=AUDITOR)
            if response.status_code == 200 and response.json()["media"].startswith(media):
                body: dict[str, str] = response.json()
                return body
            await asyncio.sleep(0.1)


async def test_staff_transfer_a_live_call_an_auditor_cannot_and_redis_knows_who_holds_it(
    stack: LocalStack, api: httpx.AsyncClient
) -> None:
    call = await stack.emulator.place_call(caller="+15551238001", callee="+15550009999", script=[{"silence": 60}])
    await call.wait_for("media_opened", timeout=15)
    workflow_id = stack.handle(call.call_id).id

    held = await live_state(api, workflow_id, media="active")
    assert held["worker"] and held["agent"]
    redis = Redis.from_url(stack.settings.redis.url)
    try:
        assert 0 < await redis.ttl(f"switchboard:call:{call.call_id}:worker") <= stack.settings.redis.live_ttl_seconds
    finally:
        await redis.aclose()

    body = {"target": HUMAN_QUEUE, "reason": "caller wants a person"}
    forbidden = await api.post(f"/calls/{workflow_id}/transfer", json=body, headers=AUDITOR)
    assert (forbidden.status_code, forbidden.json()["detail"]) == (403, "forbidden_role")
    bad = await api.post(f"/calls/{workflow_id}/transfer", json={"target": "not a number!"}, headers=STAFF)
    assert bad.status_code == 422
    missing = await api.post("/calls/call-nope/transfer", json=body, headers=STAFF)
    assert (missing.status_code, missing.json()["detail"]) == (404, "call_not_found")

    done = await api.post(f"/calls/{workflow_id}/transfer", json=body, headers=STAFF)
    assert done.status_code == 200, done.text
    assert done.json()["accepted"] is True and done.json()["requested_by"] == "dev-staff"
    state = await stack.handle(call.call_id).result()
    assert state.status == CallStatus.TRANSFERRED
    assert [(t.outcome, t.requested_by) for t in state.transfers] == [("accepted", "staff")]

    ended = await live_state(api, workflow_id, media="ended:")
    assert ended["worker"] == held["worker"]
    again = await api.post(f"/calls/{workflow_id}/transfer", json=body, headers=STAFF)
    assert (again.status_code, again.json()["detail"]) == (409, "call_not_running")
    unknown = await api.get("/calls/call-nope/live-state", headers=STAFF)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "live_state_not_found")


async def test_staff_place_an_outbound_call_once_per_request_id(stack: LocalStack, api: httpx.AsyncClient) -> None:
    stack.emulator.options = dataclasses.replace(
        stack.emulator.options, outbound_script=tuple(load_script([{"silence": 0.5}, {"hang_up": True}]))
    )
    body = {"callee": "+15551238101", "agent": "default", "request_id": uuid.uuid4().hex}
    forbidden = await api.post("/calls/outbound", json=body, headers=AUDITOR)
    assert (forbidden.status_code, forbidden.json()["detail"]) == (403, "forbidden_role")
    assert (await api.post("/calls/outbound", json={"callee": "5551234"}, headers=STAFF)).status_code == 422

    next_outbound = asyncio.ensure_future(stack.emulator.wait_for_outbound_call(timeout=20))
    placed = await api.post("/calls/outbound", json=body, headers=STAFF)
    assert placed.status_code == 202, placed.text
    repeated = await api.post("/calls/outbound", json=body, headers=STAFF)
    assert repeated.json()["workflow_id"] == placed.json()["workflow_id"]

    outbound = await next_outbound
    assert outbound.callee == "+15551238101" and outbound.caller == stack.settings.claims.outbound_caller_id
    state = await stack.client.get_workflow_handle(placed.json()["workflow_id"]).result()
    assert state["direction"] == "outbound" and state["status"] == CallStatus.COMPLETED
    workflow_id = placed.json()["workflow_id"]
    assert (await stack.client.count_workflows(f'WorkflowId = "{workflow_id}"')).count == 1


async def test_staff_record_documents_and_an_adjuster_on_a_claim_follow_up(
    stack: LocalStack, api: httpx.AsyncClient
) -> None:
    claim_id = f"CLM-{uuid.uuid4().hex[:8].upper()}"
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:  # filed on an earlier call
        await archive.upsert_claim(
            ClaimRecord(
                claim_id=claim_id, workflow_id="call-abc", caller="+15551238201", created_at="2026-11-24T10:00:00+00:00"
            )
        )
    handle = await stack.client.start_workflow(
        ClaimFollowUpWorkflow.run,
        ClaimFollowUpInput(
            claim_id=claim_id, caller="+15551238201", policy=FollowUpPolicy(reminder_intervals_seconds=[3600])
        ),
        id=claim_follow_up_workflow_id(claim_id),
        task_queue=stack.settings.temporal.task_queue,
    )
    document = {"document_id": "police-report-1", "kind": "police_report"}
    forbidden = await api.post(f"/claims/{claim_id}/documents", json=document, headers=AUDITOR)
    assert (forbidden.status_code, forbidden.json()["detail"]) == (403, "forbidden_role")
    missing = await api.post("/claims/CLM-NOPE/adjuster", json={"adjuster": "Ann"}, headers=STAFF)
    assert (missing.status_code, missing.json()["detail"]) == (404, "claim_follow_up_not_found")

    sent = await api.post(f"/claims/{claim_id}/documents", json=document, headers=STAFF)
    assert sent.status_code == 202, sent.text
    assert sent.json() == {
        "claim_id": claim_id,
        "follow_up_workflow_id": handle.id,
        "signal": "document_received",
        "requested_by": "dev-staff",
    }
    assigned = await api.post(f"/claims/{claim_id}/adjuster", json={"adjuster": "Ann Adjuster"}, headers=STAFF)
    assert assigned.status_code == 202, assigned.text

    async with asyncio.timeout(10):
        while True:
            followed = await handle.query(ClaimFollowUpWorkflow.status)
            if followed.adjuster:
                break
            await asyncio.sleep(0.1)
    assert followed.documents == ["police-report-1"] and followed.adjuster == "Ann Adjuster"
    await handle.terminate("test over")
    closed = await api.post(f"/claims/{claim_id}/adjuster", json={"adjuster": "Bob"}, headers=STAFF)
    assert (closed.status_code, closed.json()["detail"]) == (409, "claim_follow_up_not_running")


async def test_staff_actions_are_in_the_openapi_document(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in (
        "/calls/{workflow_id}/transfer",
        "/calls/outbound",
        "/calls/{workflow_id}/live-state",
        "/claims/{claim_id}/documents",
        "/claims/{claim_id}/adjuster",
    ):
        assert path in paths, path

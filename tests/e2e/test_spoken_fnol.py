"""A spoken first notice of loss end to end on the embedded engines: the emulator's caller speaks
(espeak-ng), the realtime worker recognises (PocketSphinx), answers (scripted brain) and speaks;
one answer barges in; the claim is filed exactly once through the workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from activities.storage import SqliteArchive
from activities.storage.archive import ClaimFilter, default_sqlite_path
from switchboard.cli import DEMO_SCRIPT
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.call import CallWorkflow
from workflows.contracts import CallStatus, ToolCall

pytestmark = pytest.mark.e2e

CLAIM_DETAILS = {
    "caller_name": "Jane Doe",
    "policy_number": "PA123456",
    "date_of_loss": "2026-03-03",
    "location": "main street",
    "description": "a truck hit my car",
    "injuries": False,
    "vehicle_type": "sedan",
}


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


async def claims_of(settings: Settings, workflow_id: str) -> list[object]:
    async with SqliteArchive(default_sqlite_path(settings)) as archive:
        return list(await archive.list_claims(ClaimFilter(workflow_id=workflow_id)))


async def test_spoken_fnol_call_files_one_claim_with_a_barge_in(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(caller="+15551230010", callee="+15550009999", script=DEMO_SCRIPT)
    state = await asyncio.wait_for(stack.handle(call.call_id).result(), 240)

    assert state.status == CallStatus.COMPLETED
    assert state.claim_id.startswith("CLM-"), [t.agent_text for t in state.turns]
    assert [t.name for t in state.tool_calls] == ["verify_identity", "file_claim"]
    assert len(await claims_of(stack.settings, state.workflow_id)) == 1
    spoken_claim = " ".join(ch for ch in state.claim_id if ch.isalnum())
    assert any(spoken_claim in turn.agent_text for turn in state.turns)  # the id was read back

    sequences = [turn.sequence for turn in state.turns]
    assert sequences == list(range(1, len(sequences) + 1))
    interrupted = [turn for turn in state.turns if turn.interrupted]
    assert interrupted, "the scripted barge-in did not interrupt the agent"
    # The emulator stopped playout once for the barge-in and received no agent audio after it.
    assert len(call.stop_audio_times) >= 1
    assert call.frames_after_stop == 0
    # What the workflow recorded is only what the caller heard: a prefix of the answer, not all of it.
    cut = interrupted[0]
    assert 0 < len(cut.agent_text) < 60
    answered = [turn for turn in state.turns if turn.caller_text and not turn.interrupted]
    assert all(turn.timings.voice_to_voice_ms > 0 for turn in answered)


async def test_a_duplicated_or_retried_file_claim_update_files_one_claim(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230011", callee="+15550009999", script=[{"silence": 30}, {"hang_up": True}]
    )
    await call.wait_for("connected", timeout=15)
    handle = stack.handle(call.call_id)
    update_id = f"file-claim-{uuid.uuid4()}"
    first, duplicate, retried = await asyncio.gather(
        handle.execute_update(CallWorkflow.run_tool, ToolCall(name="file_claim", arguments=CLAIM_DETAILS)),
        handle.execute_update(CallWorkflow.run_tool, ToolCall(name="file_claim", arguments=CLAIM_DETAILS)),
        handle.execute_update(
            CallWorkflow.run_tool, ToolCall(name="file_claim", arguments=CLAIM_DETAILS), id=update_id
        ),
    )
    again = await handle.execute_update(
        CallWorkflow.run_tool, ToolCall(name="file_claim", arguments=CLAIM_DETAILS), id=update_id
    )
    claim_ids = {result.result["claim_id"] for result in (first, duplicate, retried, again)}
    assert len(claim_ids) == 1
    assert sum(1 for result in (first, duplicate, retried) if result.result["created"]) == 1
    await call.caller_hang_up()
    state = await handle.result()
    assert state.claim_id in claim_ids
    assert len(await claims_of(stack.settings, state.workflow_id)) == 1


async def test_an_invalid_claim_is_refused_and_an_unknown_tool_rejected(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(
        caller="+15551230012", callee="+15550009999", script=[{"silence": 30}, {"hang_up": True}]
    )
    await call.wait_for("connected", timeout=15)
    handle = stack.handle(call.call_id)
    bad = await handle.execute_update(
        CallWorkflow.run_tool, ToolCall(name="file_claim", arguments={**CLAIM_DETAILS, "policy_number": "12"})
    )
    assert not bad.ok and "policy number" in bad.error
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(CallWorkflow.run_tool, ToolCall(name="wire_money", arguments={}))
    assert "unknown durable tool 'wire_money'" in str(rejected.value.cause)
    await call.caller_hang_up()
    state = await handle.result()
    assert state.claim_id == ""
    assert [(t.name, t.ok) for t in state.tool_calls] == [("file_claim", False)]

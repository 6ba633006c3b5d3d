"""A spoken call across agents on the embedded engines: authentication verifies the caller (policy
number and postcode, through the durable `verify_identity` tool), hands the call to claims intake
with a short announced line, intake takes the loss and files exactly one claim, and says goodbye."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import Client

from switchboard.cli import _answer
from switchboard.settings import Settings
from tests.e2e.test_spoken_fnol import claims_of
from tests.stack import LocalStack, local_stack
from workflows.contracts import CallStatus

pytestmark = pytest.mark.e2e

AUTHENTICATED_FNOL: list[dict[str, Any]] = [
    *_answer("p a one two three four five six"),
    *_answer("six two seven zero four"),
    *_answer("march third"),
    *_answer("on main street in springfield"),
    *_answer("a truck ran a red light and hit my car"),
    *_answer("nobody was hurt"),
    *_answer("a sedan"),
    *_answer("yes"),
    {"wait_agent_done": {"quiet_ms": 1500, "timeout": 40}},
    {"hang_up": True},
]


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    # The realtime worker starts calls with the scenario's entry agent: authentication.
    async with local_stack(settings, temporal_client) as running:
        yield running


async def test_authentication_hands_off_to_intake_which_files_one_claim(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(caller="+15551230401", callee="+15550009999", script=AUTHENTICATED_FNOL)
    state = await asyncio.wait_for(stack.handle(call.call_id).result(), 300)
    said = [t.agent_text for t in state.turns]

    assert state.status == CallStatus.COMPLETED, [t.caller_text for t in state.turns]
    assert [(h.from_agent, h.to_agent) for h in state.handoffs] == [("authentication", "default")], said
    assert state.current_agent == "default"
    assert [(t.name, t.ok) for t in state.tool_calls] == [("verify_identity", True), ("file_claim", True)], said
    assert state.tool_calls[0].result["verified"] is True
    assert state.claim_id.startswith("CLM-"), said
    claims = await claims_of(stack.settings, state.workflow_id)
    assert len(claims) == 1
    assert claims[0].details["caller_name"] == "Jane Doe"  # type: ignore[attr-defined]
    # The handoff is announced in a line, not a second welcome; the goodbye reads the claim back.
    assert any("you're verified" in text and "Claims intake here. On what date" in text for text in said), said
    assert [t.sequence for t in state.turns] == list(range(1, len(state.turns) + 1))
    assert sum("Thank you for calling Switchboard" in text for text in said) == 1
    assert {t.agent for t in state.turns} >= {"authentication", "default"}
    spoken_claim = " ".join(ch for ch in state.claim_id if ch.isalnum())
    assert any(spoken_claim in text and "goodbye" in text for text in said), said
    # The post-call summary (offline summariser) states what the workflow recorded, and is archived.
    assert state.summary is not None and state.summary.engine == "local"
    assert f"Claim {state.claim_id} filed" in state.summary.text
    assert "Handled by authentication then default" in state.summary.text
    assert "Outcome: completed" in state.summary.text  # the call as it ended, not as it was ending

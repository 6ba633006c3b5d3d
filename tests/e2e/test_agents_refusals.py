"""What the caller hears when the workflow says no: a handoff the scenario graph does not allow is
refused by the workflow's validator and the agent says so (then offers a person); a failed transfer
is said and the conversation picks up where it was."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

import workers.realtime_worker as realtime_worker
from agents.config import DEFAULT_DIR
from realtime.session import SessionConfig
from switchboard.cli import _answer
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.contracts import CallStatus

pytestmark = pytest.mark.e2e

HUMAN_QUEUE = "+15550100100"


@pytest.fixture
async def stack(
    settings: Settings, temporal_client: Client, redis_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.acs.human_queue_number = HUMAN_QUEUE
    # A scenario in which authentication may not hand over to intake (only to support).
    agents = tmp_path / "agents"
    shutil.copytree(DEFAULT_DIR / "definitions", agents / "definitions")
    text = (DEFAULT_DIR / "scenario.yaml").read_text()
    narrowed = text.replace("authentication: [default, support]", "authentication: [support]")
    (agents / "scenario.yaml").write_text(narrowed)
    settings.agents.config_dir = agents
    base = realtime_worker.session_config
    monkeypatch.setattr(
        realtime_worker,
        "session_config",
        lambda s: SessionConfig(carrier_rate=base(s).carrier_rate, default_agent="authentication"),
    )
    async with local_stack(settings, temporal_client) as running:
        yield running


async def test_a_handoff_the_graph_refuses_is_said_and_the_caller_goes_to_a_person(stack: LocalStack) -> None:
    script: list[dict[str, Any]] = [
        *_answer("p a one two three four five six"),
        *_answer("six two seven zero four"),
        {"wait_agent_done": {"quiet_ms": 1500, "timeout": 40}},
        {"silence": 2.0},
        {"hang_up": True},
    ]
    call = await stack.emulator.place_call(caller="+15551230501", callee="+15550009999", script=script)
    state = await stack.handle(call.call_id).result()
    said = [t.agent_text for t in state.turns]

    assert state.handoffs == [], said  # refused by the validator: nothing recorded, the agent unchanged
    assert state.current_agent == "authentication"
    assert any("can't connect you to claims intake" in text for text in said), said
    assert [(t.outcome, t.target) for t in state.transfers] == [("accepted", HUMAN_QUEUE)], said
    assert state.status == CallStatus.TRANSFERRED


async def test_a_failed_transfer_is_said_and_the_conversation_resumes(stack: LocalStack) -> None:
    stack.emulator.options = dataclasses.replace(stack.emulator.options, failing_targets=frozenset({HUMAN_QUEUE}))
    script: list[dict[str, Any]] = [
        *_answer("agent please"),
        {"wait_agent_done": {"quiet_ms": 1500, "timeout": 40}},
        {"silence": 2.0},
        {"hang_up": True},
    ]
    call = await stack.emulator.place_call(caller="+15551230502", callee="+15550009999", script=script)
    state = await stack.handle(call.call_id).result()
    said = [t.agent_text for t in state.turns]

    assert [(t.outcome, t.target) for t in state.transfers] == [("failed", HUMAN_QUEUE)], said
    assert state.status == CallStatus.COMPLETED  # the caller hung up later: the call went on
    resumed = [text for text in said if "couldn't reach a person" in text]
    assert resumed and "policy number" in resumed[0], said

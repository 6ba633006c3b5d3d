"""Every saved history of a shipped `CallWorkflow` replays against the current code; a workflow
changed without `workflow.patched` is caught as non-deterministic."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow

from switchboard import audit
from workflows.call import CallWorkflow
from workflows.contracts import CallInput, CallState

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def test_there_are_saved_histories() -> None:
    assert HISTORIES, "tests/replay/histories is empty: run tests/replay/record_histories.py"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays_against_the_current_workflow(path: Path) -> None:
    report = await audit.replay(audit.load_history(path))
    assert report.verdict == "ok", report.error
    assert report.events > 10


@workflow.defn(name="CallWorkflow", sandboxed=False)  # the test module is not sandbox-safe
class TimerBeforeAnswerCallWorkflow(CallWorkflow):
    """The shipped workflow with one change: a timer before answering, added without a patch."""

    @workflow.run
    async def run(self, call: CallInput) -> CallState:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(call)


@pytest.mark.parametrize("path", HISTORIES[:1], ids=[p.stem for p in HISTORIES[:1]])
async def test_a_workflow_changed_without_a_patch_is_reported_nondeterministic(path: Path) -> None:
    report = await audit.replay(audit.load_history(path), workflows=[TimerBeforeAnswerCallWorkflow])
    assert report.verdict == "nondeterministic"
    assert report.error_type == "NondeterminismError" and report.error

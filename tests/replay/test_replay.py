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
    history = audit.load_history(path)
    # The CLI's file has no workflow id; the call's is derived from its input (the workflow matches
    # operation contexts built from it, so replaying under the file's name would diverge).
    assert history.workflow_id.startswith("call-") and history.workflow_id != path.stem
    report = await audit.replay(history)
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

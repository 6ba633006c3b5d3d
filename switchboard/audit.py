"""Audit: export a call's Temporal history and archived record, replay histories against the
current workflow code, and verify archived records' content hashes.

Used by the API (`api/routes/audit.py`) and the CLI (`switchboard audit export|replay|verify`).

A history is accepted in the JSON form `temporal workflow show --output json` writes (the same form
`WorkflowHistory.to_json()` produces), or inside an export bundle from `export_call`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from activities.storage import CallArchive, CallRecord, content_hash, verify
from activities.storage.records import call_record_from_document, record_to_document
from workflows.contracts import call_workflow_id, claim_follow_up_workflow_id

Verdict = Literal["ok", "nondeterministic", "failed"]


class AuditError(Exception):
    """Base of audit failures the caller can report (unknown call, unreadable history)."""


class CallNotFoundError(AuditError):
    pass


class HistoryFormatError(AuditError):
    pass


@dataclass
class ReplayReport:
    workflow_id: str
    verdict: Verdict
    error: str = ""
    error_type: str = ""
    events: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


@dataclass
class VerifyReport:
    workflow_id: str
    ok: bool
    stored_hash: str
    computed_hash: str


@dataclass
class AuditExport:
    """One call for an auditor: its full Temporal history and its archived record."""

    workflow_id: str
    run_id: str
    exported_at: str
    history: dict[str, Any]
    record: dict[str, Any] | None = None
    record_verified: bool | None = None
    replay: ReplayReport | None = None
    notes: list[str] = field(default_factory=list)


def _default_workflows() -> list[type]:
    from workflows.call import CallWorkflow

    return [CallWorkflow]


# ---------------------------------------------------------------------------------------- histories


def load_history(source: str | bytes | dict[str, Any] | Path, *, workflow_id: str | None = None) -> WorkflowHistory:
    """A history from a `temporal workflow show --output json` file, its text, or an export bundle.

    The workflow id matters to replay (a workflow may compare ids it built from its own id with
    what signals carry), and the CLI's history file does not hold it: it is, in order, the one
    given, the bundle's, the one a call or claim follow-up workflow derives from its input, and
    last the file's name."""
    name = workflow_id
    stem = source.stem if isinstance(source, Path) else ""
    if isinstance(source, Path):
        source = source.read_text()
    try:
        document: Any = json.loads(source) if isinstance(source, str | bytes) else source
    except json.JSONDecodeError as err:
        raise HistoryFormatError(f"history is not JSON: {err}") from err
    if isinstance(document, dict) and isinstance(document.get("history"), dict):  # an export bundle
        name = name or str(document.get("workflow_id") or "")
        document = document["history"]
    if not isinstance(document, dict) or not isinstance(document.get("events"), list) or not document["events"]:
        raise HistoryFormatError("history has no events")
    name = name or _derived_workflow_id(document["events"][0]) or stem
    try:
        return WorkflowHistory.from_json(name or "unknown", document)
    except Exception as err:  # the proto parser's errors are not a stable type
        raise HistoryFormatError(f"history does not decode: {err}") from err


def _derived_workflow_id(started: Any) -> str:
    """`call-{correlation_id}` / the claim's follow-up id, from the started event's JSON input."""
    try:
        attributes = started["workflowExecutionStartedEventAttributes"]
        kind = attributes["workflowType"]["name"]
        payload = attributes["input"]["payloads"][0]
        argument = json.loads(base64.b64decode(payload["data"]))
    except (KeyError, IndexError, TypeError, ValueError):
        return ""
    if kind == "CallWorkflow" and isinstance(argument, dict) and argument.get("correlation_id"):
        return call_workflow_id(str(argument["correlation_id"]))
    if kind == "ClaimFollowUpWorkflow" and isinstance(argument, dict) and argument.get("claim_id"):
        return claim_follow_up_workflow_id(str(argument["claim_id"]))
    return ""


async def replay(history: WorkflowHistory, *, workflows: Sequence[type] | None = None) -> ReplayReport:
    """Replay one history against the workflow code given (default: the current `CallWorkflow`)."""
    replayer = Replayer(workflows=list(workflows or _default_workflows()))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    events = len(history.events)
    if failure is None:
        return ReplayReport(workflow_id=history.workflow_id, verdict="ok", events=events)
    verdict: Verdict = "nondeterministic" if isinstance(failure, NondeterminismError) else "failed"
    return ReplayReport(
        workflow_id=history.workflow_id,
        verdict=verdict,
        error=str(failure),
        error_type=type(failure).__name__,
        events=events,
    )


async def fetch_history(client: Client, workflow_id: str) -> WorkflowHistory:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        return await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CallNotFoundError(workflow_id) from err
        raise


# ---------------------------------------------------------------------------------------- records


def verify_record(record: CallRecord) -> VerifyReport:
    return VerifyReport(
        workflow_id=record.workflow_id,
        ok=verify(record),
        stored_hash=record.content_hash,
        computed_hash=content_hash(record),
    )


def record_from_json(source: str | bytes | dict[str, Any]) -> CallRecord:
    """A call record from its JSON (or an export bundle holding one)."""
    document: Any = json.loads(source) if isinstance(source, str | bytes) else source
    if isinstance(document, dict) and isinstance(document.get("record"), dict):
        document = document["record"]
    if not isinstance(document, dict) or "workflow_id" not in document:
        raise AuditError("not a call record")
    return call_record_from_document(document)


async def export_call(
    client: Client, archive: CallArchive, workflow_id: str, *, with_replay: bool = False
) -> AuditExport:
    """The call's history (as `temporal workflow show --output json` would write it) and record."""
    history = await fetch_history(client, workflow_id)
    description = await client.get_workflow_handle(workflow_id).describe()
    record = await archive.get(workflow_id)
    export = AuditExport(
        workflow_id=workflow_id,
        run_id=description.run_id,
        exported_at=datetime.now(UTC).isoformat(),
        history=json.loads(history.to_json()),
        record=record_to_document(record) if record is not None else None,
        record_verified=verify(record) if record is not None else None,
    )
    if record is None:
        export.notes.append("no archived record (the call may still be running)")
    if with_replay:
        export.replay = await replay(history)
    return export

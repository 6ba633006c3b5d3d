"""Archived call and claim records, their content hash, and optional PII redaction.

A record is plain data (dataclasses of str/int/float/bool/list/dict) built from the workflow's
`CallState` after the call. Its `content_hash` is the SHA-256 of a canonical JSON form of the record:

- only the fields the record's `schema_version` defines (so storage metadata such as Cosmos's
  `id`/`_etag`/`_ts` or the archive's `revision`/`archived_at` never takes part, and a future schema
  with more fields still verifies version-1 records);
- the `content_hash` field itself excluded;
- keys sorted, no whitespace, UTF-8 (`ensure_ascii=False`); floats that are whole numbers written as
  integers (JSON stores round-trip `1.0` as `1`), NaN and infinities refused.

`verify(record)` recomputes the hash and compares it with the stored one: an auditor can tell the
record was not altered since it was archived.

Changing a record's fields means a new `SCHEMA_VERSION` with its own entry in the field tables below;
`tests/activities/storage/test_call_records.py` fails when the dataclasses and the tables disagree.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from activities.storage.errors import RecordSchemaError
from workflows.contracts import CallState, Turn

SCHEMA_VERSION = 2

# Fields covered by the content hash, per schema version. Literal on purpose: adding a dataclass field
# must come with a schema bump, not silently change what version 1 hashes.
_CALL_FIELDS: dict[int, frozenset[str]] = {
    1: frozenset(
        {
            "workflow_id",
            "correlation_id",
            "caller",
            "callee",
            "direction",
            "status",
            "end_reason",
            "failure",
            "started_at",
            "answered_at",
            "ended_at",
            "agents",
            "turns",
            "tool_calls",
            "claim_id",
            "recording_location",
            "redacted",
            "schema_version",
        }
    )
}
# Version 2: the post-call summary and, for a call whose media worker died, how it was recovered.
_CALL_FIELDS[2] = _CALL_FIELDS[1] | {"summary", "recovery", "server_recording_location"}
_TURN_FIELDS: dict[int, frozenset[str]] = {
    1: frozenset({"sequence", "caller_text", "agent_text", "agent", "interrupted", "started_at", "timings"})
}
_TURN_FIELDS[2] = _TURN_FIELDS[1]
_CLAIM_FIELDS: dict[int, frozenset[str]] = {
    1: frozenset(
        {
            "claim_id",
            "workflow_id",
            "follow_up_workflow_id",
            "caller",
            "status",
            "created_at",
            "details",
            "events",
            "schema_version",
        }
    )
}
_CLAIM_FIELDS[2] = _CLAIM_FIELDS[1]


@dataclass
class TurnRecord:
    """One finished turn as the workflow holds it: what the caller said, what the agent actually played."""

    sequence: int
    caller_text: str = ""
    agent_text: str = ""
    agent: str = ""
    interrupted: bool = False
    started_at: str = ""
    # Latencies in milliseconds, keyed like `workflows.contracts.TurnTimings`.
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class CallRecord:
    """The archived record of one call, keyed by its workflow id."""

    workflow_id: str
    correlation_id: str = ""
    caller: str = ""
    callee: str = ""
    direction: str = "inbound"
    # The call's final status (`workflows.contracts.CallStatus` value): its outcome.
    status: str = ""
    end_reason: str = ""
    failure: str = ""
    # UTC ISO 8601 with microseconds and `+00:00`, so text order is time order.
    started_at: str = ""
    answered_at: str = ""
    ended_at: str = ""
    # Agents that spoke, in order of first appearance.
    agents: list[str] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    # Durable tool calls the workflow ran (name, arguments, result...), JSON-compatible.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    claim_id: str = ""
    # Where the recording lives (`BlobLocation.uri`), empty when there is none.
    recording_location: str = ""
    # True when transcripts and tool-call strings were PII-redacted before archival.
    redacted: bool = False
    # Our copy of ACS's own (server-side) recording, when ACS recorded the call (schema 2).
    server_recording_location: str = ""
    # The post-call summary (schema 2).
    summary: str = ""
    # How the call was recovered when its media worker died (`RecoveryRecord` fields); {} otherwise.
    recovery: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    content_hash: str = ""


@dataclass
class ClaimRecord:
    """A claim (FNOL) in the archive's claims store, keyed by claim id."""

    claim_id: str
    # The call that filed the claim, and the follow-up workflow that tracks it.
    workflow_id: str = ""
    follow_up_workflow_id: str = ""
    caller: str = ""
    status: str = "open"
    created_at: str = ""
    # The FNOL fields and whatever the claims system adds, JSON-compatible.
    details: dict[str, Any] = field(default_factory=dict)
    # Follow-up history: documents received, adjuster assigned, reminders, closure.
    events: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    content_hash: str = ""


AnyRecord = CallRecord | ClaimRecord
R = TypeVar("R", CallRecord, ClaimRecord)


# ---------------------------------------------------------------------------------------------------
# Canonical form and hash


def _normalise(value: Any) -> Any:
    """JSON-compatible value with whole floats as ints; anything else refused."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number in a record: {value!r}")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"record keys must be strings, got {key!r}")
            out[key] = _normalise(item)
        return out
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    raise TypeError(f"not JSON-compatible in a record: {type(value).__name__}")


def canonical_json(payload: Any) -> bytes:
    """The canonical bytes the content hash is computed over."""
    return json.dumps(
        _normalise(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _hashed_payload(record: AnyRecord) -> dict[str, Any]:
    version = record.schema_version
    if isinstance(record, CallRecord):
        if version not in _CALL_FIELDS:
            raise RecordSchemaError(f"unknown call record schema_version {version!r}")
        data = asdict(record)
        payload = {name: data.get(name) for name in _CALL_FIELDS[version]}
        payload["turns"] = [
            {name: turn.get(name) for name in _TURN_FIELDS[version]} for turn in data.get("turns") or []
        ]
        return payload
    if isinstance(record, ClaimRecord):
        if version not in _CLAIM_FIELDS:
            raise RecordSchemaError(f"unknown claim record schema_version {version!r}")
        data = asdict(record)
        return {name: data.get(name) for name in _CLAIM_FIELDS[version]}
    raise TypeError(f"not a record: {type(record).__name__}")


def content_hash(record: AnyRecord) -> str:
    """Hex SHA-256 of the record's canonical JSON (its `content_hash` field excluded)."""
    return hashlib.sha256(canonical_json(_hashed_payload(record))).hexdigest()


def seal(record: R) -> R:
    """A copy of the record with `content_hash` set to its current content."""
    return replace(record, content_hash=content_hash(record))


def verify(record: AnyRecord) -> bool:
    """True when the record carries a hash and its content still matches it."""
    if not record.content_hash:
        return False
    try:
        return content_hash(record) == record.content_hash
    except (ValueError, TypeError):
        # A record that no longer even canonicalises (a tampered type, an unknown schema) is not intact.
        return False


# ---------------------------------------------------------------------------------------------------
# Documents (what the backends store) <-> records

# Keys the archive or Cosmos adds next to the record's fields; never part of the record.
STORAGE_METADATA_KEYS = frozenset(
    {"id", "kind", "revision", "archived_at", "stored_at", "_rid", "_self", "_etag", "_attachments", "_ts"}
)


def record_to_document(record: AnyRecord) -> dict[str, Any]:
    """The record's fields as a JSON-compatible dict (no storage metadata)."""
    return _normalise(asdict(record))  # type: ignore[no-any-return]


def _known(cls: type, doc: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in doc.items() if key in names}


def call_record_from_document(doc: Mapping[str, Any]) -> CallRecord:
    """Rebuild a `CallRecord` from a stored document; unknown keys (storage metadata) are ignored.

    Values are not coerced (a tampered type changes the canonical form, so `verify` catches it), except
    whole-number timings, which come back as floats.
    """
    data = _known(CallRecord, doc)
    data["turns"] = [_turn_from_document(turn) for turn in data.get("turns") or []]
    return CallRecord(**data)


def _turn_from_document(doc: Mapping[str, Any]) -> TurnRecord:
    data = _known(TurnRecord, doc)
    timings = data.get("timings")
    if isinstance(timings, Mapping):
        # JSON stores hand whole floats back as ints; turning them back is hash-neutral (see `_normalise`).
        data["timings"] = {
            key: float(value) if isinstance(value, int) and not isinstance(value, bool) else value
            for key, value in timings.items()
        }
    return TurnRecord(**data)


def claim_record_from_document(doc: Mapping[str, Any]) -> ClaimRecord:
    """Rebuild a `ClaimRecord` from a stored document; unknown keys (storage metadata) are ignored."""
    return ClaimRecord(**_known(ClaimRecord, doc))


# ---------------------------------------------------------------------------------------------------
# Building a record from the workflow's state


def utc_iso(value: str | datetime | None) -> str:
    """A timestamp as UTC ISO 8601 with microseconds (`2026-11-24T10:00:00.000000+00:00`); "" stays "".

    Naive datetimes are taken as UTC. Text that does not parse as ISO 8601 raises `ValueError`.
    """
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _timings(turn: Turn) -> dict[str, float]:
    timings: Any = turn.timings
    if is_dataclass(timings) and not isinstance(timings, type):
        raw: Mapping[str, Any] = asdict(timings)
    elif isinstance(timings, Mapping):
        raw = timings
    else:
        raw = {}
    return {str(key): float(value) for key, value in raw.items()}


def _agents_in_order(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        if name:
            seen.setdefault(name, None)
    return list(seen)


def call_record_from_state(
    state: CallState,
    *,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    recording_location: str = "",
    redact_pii: bool = False,
) -> CallRecord:
    """The sealed archive record of a call from the workflow's final (or partial) `CallState`.

    Turns are ordered by sequence and de-duplicated by it (the last copy wins). With `redact_pii`,
    transcripts and string values inside tool calls are redacted before the hash is computed.
    """
    by_sequence = {turn.sequence: turn for turn in state.turns}
    turns = [
        TurnRecord(
            sequence=turn.sequence,
            caller_text=turn.caller_text,
            agent_text=turn.agent_text,
            agent=turn.agent,
            interrupted=turn.interrupted,
            started_at=utc_iso(turn.started_at),
            timings=_timings(turn),
        )
        for _, turn in sorted(by_sequence.items())
    ]
    record = CallRecord(
        workflow_id=state.workflow_id,
        correlation_id=state.correlation_id,
        caller=state.caller,
        callee=state.callee,
        direction=state.direction,
        status=str(state.status),
        end_reason=state.end_reason,
        failure=state.failure,
        started_at=utc_iso(state.started_at),
        answered_at=utc_iso(state.answered_at),
        ended_at=utc_iso(state.ended_at),
        agents=_agents_in_order([*(turn.agent for turn in turns), state.current_agent]),
        turns=turns,
        tool_calls=[_normalise(dict(call)) for call in tool_calls],
        claim_id=state.claim_id,
        recording_location=recording_location,
        server_recording_location=state.server_recording_location,
        summary=state.summary.text if state.summary is not None else "",
        recovery=_normalise(asdict(state.recovery)) if state.recovery is not None else {},
    )
    if redact_pii:
        record = redact_record(record)
    return seal(record)


# ---------------------------------------------------------------------------------------------------
# PII redaction

# Four or more digits, optionally separated by single spaces, dashes, dots or slashes: card, phone,
# policy and account numbers, dates of birth. Shorter numbers (ages, counts, "2 cars") stay.
_DIGIT_RUN = re.compile(r"\d(?:[ \-./]?\d){3,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
REDACTED_EMAIL = "[email]"


def redact_text(text: str) -> str:
    """Mask e-mail addresses and every digit of runs of 4+ digits (`4111 1111` -> `#### ####`).

    Numbers spoken as words ("five five five") are not recognised; this is a floor, not a guarantee.
    """
    text = _EMAIL.sub(REDACTED_EMAIL, text)
    return _DIGIT_RUN.sub(lambda match: re.sub(r"\d", "#", match.group()), text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def redact_record(record: CallRecord) -> CallRecord:
    """A copy with transcripts and tool-call strings redacted and `redacted=True` (hash not updated:
    `seal` it, or let the archive seal it on upsert). Caller and callee numbers stay: they are the
    search keys of the back office."""
    return replace(
        record,
        turns=[
            replace(turn, caller_text=redact_text(turn.caller_text), agent_text=redact_text(turn.agent_text))
            for turn in record.turns
        ],
        tool_calls=[_redact_value(call) for call in record.tool_calls],
        summary=redact_text(record.summary),
        redacted=True,
    )

"""Call and claim records: built from the workflow's state, hashed canonically, verified, redacted."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from activities.storage import (
    CallRecord,
    ClaimRecord,
    RecordSchemaError,
    TurnRecord,
    call_record_from_state,
    content_hash,
    redact_record,
    redact_text,
    seal,
    verify,
)
from activities.storage.records import (
    _CALL_FIELDS,
    _CLAIM_FIELDS,
    _TURN_FIELDS,
    SCHEMA_VERSION,
    _hashed_payload,
    call_record_from_document,
    canonical_json,
    claim_record_from_document,
    record_to_document,
    utc_iso,
)
from workflows.contracts import CallState, CallStatus, Turn, TurnTimings


def finished_state() -> CallState:
    return CallState(
        workflow_id="call-corr-1",
        correlation_id="corr-1",
        status=CallStatus.COMPLETED,
        caller="+15551230001",
        callee="+15559870000",
        current_agent="claims",
        started_at="2026-11-24T10:00:00+00:00",
        answered_at="2026-11-24T10:00:01.250000+00:00",
        ended_at="2026-11-24T11:05:00+01:00",
        end_reason="caller_hung_up",
        claim_id="CLM-1001",
        turns=[
            Turn(
                sequence=2,
                caller_text="my policy is 4411 2233",
                agent_text="Thanks, filing it now.",
                agent="claims",
                started_at="2026-11-24T10:00:20+00:00",
            ),
            Turn(sequence=1, caller_text="hello", agent_text="Hi, how can I help?", agent="greeter"),
            Turn(
                sequence=1,
                caller_text="hello",
                agent_text="Hi, how can",
                agent="greeter",
                interrupted=True,
                timings=TurnTimings(voice_to_voice_ms=412.5, end_of_speech_ms=200.0),
            ),
        ],
    )


def test_a_record_from_the_final_state_carries_the_call_and_is_sealed() -> None:
    record = call_record_from_state(
        finished_state(),
        tool_calls=[{"name": "file_claim", "arguments": {"policy": "4411"}, "result": {"claim_id": "CLM-1001"}}],
        recording_location="file:///data/call-corr-1/recording.wav",
    )

    assert record.workflow_id == "call-corr-1"
    assert record.status == "completed"
    assert (record.caller, record.callee, record.direction) == ("+15551230001", "+15559870000", "inbound")
    assert record.claim_id == "CLM-1001"
    assert record.recording_location == "file:///data/call-corr-1/recording.wav"
    assert record.tool_calls[0]["result"] == {"claim_id": "CLM-1001"}
    assert record.schema_version == SCHEMA_VERSION
    assert verify(record)
    assert record.content_hash == content_hash(record)


def test_turns_are_ordered_and_deduplicated_by_sequence_the_last_copy_winning() -> None:
    record = call_record_from_state(finished_state())

    assert [turn.sequence for turn in record.turns] == [1, 2]
    first = record.turns[0]
    assert (first.agent_text, first.interrupted) == ("Hi, how can", True)
    assert first.timings["voice_to_voice_ms"] == 412.5
    assert set(first.timings) == {f.name for f in dataclasses.fields(TurnTimings)}


def test_agents_are_listed_in_order_of_first_appearance() -> None:
    assert call_record_from_state(finished_state()).agents == ["greeter", "claims"]


def test_timestamps_are_normalised_to_utc_with_microseconds_so_text_order_is_time_order() -> None:
    record = call_record_from_state(finished_state())

    assert record.started_at == "2026-11-24T10:00:00.000000+00:00"
    assert record.ended_at == "2026-11-24T10:05:00.000000+00:00"
    assert utc_iso("2026-11-24T10:00:00Z") == "2026-11-24T10:00:00.000000+00:00"
    assert utc_iso("") == ""


def test_changing_any_content_fails_verify() -> None:
    record = call_record_from_state(finished_state())

    altered_text = dataclasses.replace(
        record, turns=[dataclasses.replace(record.turns[0], agent_text="I promise a refund"), *record.turns[1:]]
    )
    altered_status = dataclasses.replace(record, status="transferred")
    altered_type = dataclasses.replace(record, turns=[dataclasses.replace(record.turns[0], sequence="1")])  # type: ignore[arg-type]

    assert not verify(altered_text)
    assert not verify(altered_status)
    assert not verify(altered_type)


def test_a_record_without_a_hash_does_not_verify() -> None:
    assert not verify(CallRecord(workflow_id="call-x"))


def test_the_hash_excludes_itself_and_storage_metadata() -> None:
    record = call_record_from_state(finished_state())
    stored = {
        **record_to_document(record),
        "id": record.workflow_id,
        "revision": 3,
        "archived_at": "2026-11-24T12:00:00.000000+00:00",
        "_etag": '"0000"',
        "_ts": 1795520052,
        "_rid": "abc",
    }

    back = call_record_from_document(stored)

    assert back == record
    assert content_hash(back) == content_hash(dataclasses.replace(record, content_hash="something else"))
    assert verify(back)


def test_whole_floats_hash_like_ints_so_json_stores_that_drop_the_fraction_still_verify() -> None:
    record = call_record_from_state(finished_state())
    through_javascript = json.loads(json.dumps(record_to_document(record)).replace("200.0", "200"))

    assert verify(call_record_from_document(through_javascript))


def test_canonical_json_sorts_keys_and_has_no_whitespace() -> None:
    assert canonical_json({"b": [1.0, 2.5, "é"], "a": {"z": None, "y": True}}) == (
        '{"a":{"y":true,"z":null},"b":[1,2.5,"é"]}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_the_hash_of_a_fixed_record_is_pinned() -> None:
    # Changing this value means every archived record stops verifying: bump SCHEMA_VERSION instead.
    record = CallRecord(
        workflow_id="call-pinned",
        correlation_id="pinned",
        status="completed",
        started_at="2026-01-01T00:00:00.000000+00:00",
        turns=[TurnRecord(sequence=1, caller_text="hi", agent_text="hello", agent="a", timings={"x_ms": 1.5})],
        schema_version=1,
        summary="not part of a version 1 record",
    )

    assert canonical_json(_hashed_payload(record)).decode() == PINNED_CANONICAL
    assert content_hash(record) == hashlib.sha256(PINNED_CANONICAL.encode()).hexdigest() == PINNED_HASH


def test_version_2_hashes_the_summary_and_the_recovery_too() -> None:
    record = CallRecord(
        workflow_id="call-pinned",
        correlation_id="pinned",
        status="recovered",
        summary="Inbound call.",
        recovery={"cause": "heartbeat_timeout", "outcome": "transferred"},
    )
    assert record.schema_version == 2
    canonical = canonical_json(_hashed_payload(record)).decode()
    assert canonical == PINNED_CANONICAL_V2
    assert verify(seal(record))
    assert not verify(dataclasses.replace(seal(record), summary="Something else."))
    assert not verify(dataclasses.replace(seal(record), recovery={"cause": "heartbeat_timeout", "outcome": "hung_up"}))


# What an auditor recomputes by hand: the record's fields, keys sorted, no whitespace, SHA-256.
PINNED_CANONICAL = (
    '{"agents":[],"answered_at":"","callee":"","caller":"","claim_id":"","correlation_id":"pinned",'
    '"direction":"inbound","end_reason":"","ended_at":"","failure":"","recording_location":"","redacted":false,'
    '"schema_version":1,"started_at":"2026-01-01T00:00:00.000000+00:00","status":"completed","tool_calls":[],'
    '"turns":[{"agent":"a","agent_text":"hello","caller_text":"hi","interrupted":false,"sequence":1,'
    '"started_at":"","timings":{"x_ms":1.5}}],"workflow_id":"call-pinned"}'
)
PINNED_HASH = "1cae74a3e428822afd4c72ac4f1663d59056284aa665414e86dab9357acacb6a"
PINNED_CANONICAL_V2 = (
    '{"agents":[],"answered_at":"","callee":"","caller":"","claim_id":"","correlation_id":"pinned",'
    '"direction":"inbound","end_reason":"","ended_at":"","failure":"","recording_location":"",'
    '"recovery":{"cause":"heartbeat_timeout","outcome":"transferred"},"redacted":false,"schema_version":2,'
    '"server_recording_location":"","started_at":"","status":"recovered","summary":"Inbound call.",'
    '"tool_calls":[],"turns":[],'
    '"workflow_id":"call-pinned"}'
)


def test_an_unknown_schema_version_cannot_be_hashed_or_verified() -> None:
    record = dataclasses.replace(call_record_from_state(finished_state()), schema_version=99)

    with pytest.raises(RecordSchemaError):
        content_hash(record)
    assert not verify(record)


def test_the_hashed_field_tables_match_the_dataclasses_of_the_current_schema() -> None:
    # A new field needs a new SCHEMA_VERSION with its own table, not a silent change of version 1.
    assert _CALL_FIELDS[SCHEMA_VERSION] == {f.name for f in dataclasses.fields(CallRecord)} - {"content_hash"}
    assert _TURN_FIELDS[SCHEMA_VERSION] == {f.name for f in dataclasses.fields(TurnRecord)}
    assert _CLAIM_FIELDS[SCHEMA_VERSION] == {f.name for f in dataclasses.fields(ClaimRecord)} - {"content_hash"}


def test_claim_records_are_sealed_and_verified_the_same_way() -> None:
    claim = seal(ClaimRecord(claim_id="CLM-1", workflow_id="call-1", details={"vehicle": "car", "injuries": 0}))

    assert verify(claim)
    assert claim_record_from_document({**record_to_document(claim), "_etag": "x"}) == claim
    assert not verify(dataclasses.replace(claim, status="closed"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 please", "card #### #### #### #### please"),
        ("call me on 555-123-4567", "call me on ###-###-####"),
        ("born 1990/04/12", "born ####/##/##"),
        ("write to jane.doe+x@example.co.uk", "write to [email]"),
        ("2 cars and 3 people, aged 42", "2 cars and 3 people, aged 42"),
    ],
)
def test_redaction_masks_long_digit_runs_and_emails(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_a_redacted_record_masks_transcripts_and_tool_calls_and_still_verifies() -> None:
    record = call_record_from_state(
        finished_state(), tool_calls=[{"name": "file_claim", "arguments": {"policy": "4411 2233"}}], redact_pii=True
    )

    assert record.redacted
    assert record.turns[1].caller_text == "my policy is #### ####"
    assert record.tool_calls[0]["arguments"]["policy"] == "#### ####"
    assert record.caller == "+15551230001"  # search key of the back office, kept
    assert verify(record)
    assert not verify(redact_record(call_record_from_state(finished_state())))  # redacting changes the content

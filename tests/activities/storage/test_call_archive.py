"""One contract for every archive backend: SQLite (embedded default) and Cosmos DB (cosmosdb-server).

Each test names a behaviour the workflow's archival relies on; both backends run the same tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos.aio import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError

from activities.storage import (
    CallArchive,
    CallFilter,
    CallRecord,
    ClaimFilter,
    ClaimRecord,
    CosmosArchive,
    SqliteArchive,
    StorageClosedError,
    StorageConfigError,
    TurnRecord,
    UpsertOutcome,
    build_archive,
    content_hash,
    verify,
)
from switchboard.settings import Settings
from tests.storage_emulators import CosmosEmulator, cosmos_emulator, node_emulators_bin  # noqa: F401 - fixtures

Mutate = Callable[[dict[str, Any]], None]


@dataclass
class ArchiveUnderTest:
    archive: CallArchive
    # Alters a stored call document behind the archive's back (what an attacker with storage access does).
    tamper: Callable[[str, Mutate], Awaitable[None]]


def call(n: int, **changes: Any) -> CallRecord:
    record = CallRecord(
        workflow_id=f"call-{n}",
        correlation_id=str(n),
        caller="+15550000001",
        callee="+15559990000",
        status="completed",
        started_at=f"2026-11-24T10:0{n}:00.000000+00:00",
        ended_at=f"2026-11-24T10:0{n}:30.000000+00:00",
        agents=["greeter"],
        turns=[
            TurnRecord(
                sequence=1, caller_text="hello", agent_text="hi", agent="greeter", timings={"voice_to_voice_ms": 420.0}
            )
        ],
    )
    return dataclasses.replace(record, **changes)


@pytest.fixture(params=["sqlite", "cosmos"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArchiveUnderTest]:
    if request.param == "sqlite":
        path = tmp_path / "archive.sqlite3"

        async def tamper_sqlite(workflow_id: str, mutate: Mutate) -> None:
            with closing(sqlite3.connect(path)) as conn, conn:
                (body,) = conn.execute("SELECT body FROM calls WHERE workflow_id = ?", (workflow_id,)).fetchone()
                doc = json.loads(body)
                mutate(doc)
                conn.execute("UPDATE calls SET body = ? WHERE workflow_id = ?", (json.dumps(doc), workflow_id))

        async with SqliteArchive(path) as archive:
            yield ArchiveUnderTest(archive, tamper_sqlite)
        return

    emulator: CosmosEmulator = request.getfixturevalue("cosmos_emulator")
    database = f"test-{uuid.uuid4().hex[:12]}"

    async def tamper_cosmos(workflow_id: str, mutate: Mutate) -> None:
        async with CosmosClient(emulator.endpoint, credential=emulator.key) as client:
            container = client.get_database_client(database).get_container_client("calls")
            doc = await container.read_item(workflow_id, partition_key=workflow_id)
            mutate(doc)
            await container.replace_item(workflow_id, doc)

    async with CosmosArchive.from_endpoint(emulator.endpoint, emulator.key, database=database) as cosmos:
        yield ArchiveUnderTest(cosmos, tamper_cosmos)


async def test_an_activity_retry_leaves_one_record_with_one_hash(subject: ArchiveUnderTest) -> None:
    archive = subject.archive

    first = await archive.upsert(call(1))
    retry = await archive.upsert(call(1))

    assert (first.outcome, retry.outcome) == (UpsertOutcome.CREATED, UpsertOutcome.UNCHANGED)
    assert first.content_hash == retry.content_hash == content_hash(call(1))
    assert (retry.revision, retry.archived_at, retry.stored_at) == (1, first.archived_at, first.stored_at)
    assert [record.workflow_id for record in await archive.list()] == ["call-1"]
    stored = await archive.get("call-1")
    assert stored == dataclasses.replace(call(1), content_hash=first.content_hash)
    assert stored is not None and verify(stored)
    assert type(stored.turns[0].timings["voice_to_voice_ms"]) is float


async def test_the_archive_seals_records_itself_whatever_hash_the_caller_sent(subject: ArchiveUnderTest) -> None:
    result = await subject.archive.upsert(call(1, content_hash="not-a-hash"))

    stored = await subject.archive.get("call-1")
    assert stored is not None
    assert stored.content_hash == result.content_hash == content_hash(call(1))


async def test_new_content_for_the_same_call_replaces_the_record(subject: ArchiveUnderTest) -> None:
    archive = subject.archive
    partial = call(1, status="failed", end_reason="media_worker_lost")
    full = call(1, status="transferred", end_reason="transferred_to_human")

    first = await archive.upsert(partial)
    second = await archive.upsert(full)

    assert second.outcome == UpsertOutcome.UPDATED
    assert second.revision == 2
    assert second.archived_at == first.archived_at
    assert second.content_hash != first.content_hash
    stored = await archive.get("call-1")
    assert stored is not None and (stored.status, stored.end_reason) == ("transferred", "transferred_to_human")
    assert verify(stored)
    assert len(await archive.list()) == 1


async def test_a_record_altered_in_storage_fails_verify_and_rearchiving_repairs_it(subject: ArchiveUnderTest) -> None:
    await subject.archive.upsert(call(1))

    def rewrite_agent_text(doc: dict[str, Any]) -> None:
        doc["turns"][0]["agent_text"] = "you are entitled to a full refund"

    await subject.tamper("call-1", rewrite_agent_text)
    altered = await subject.archive.get("call-1")

    assert altered is not None and altered.turns[0].agent_text == "you are entitled to a full refund"
    assert not verify(altered)
    repaired = await subject.archive.upsert(call(1))
    assert repaired.outcome == UpsertOutcome.UPDATED
    stored = await subject.archive.get("call-1")
    assert stored is not None and verify(stored) and stored.turns[0].agent_text == "hi"


async def test_a_forged_hash_next_to_altered_content_still_fails_verify(subject: ArchiveUnderTest) -> None:
    await subject.archive.upsert(call(1))

    def change_status_keep_hash(doc: dict[str, Any]) -> None:
        doc["status"] = "completed-with-refund"

    await subject.tamper("call-1", change_status_keep_hash)

    stored = await subject.archive.get("call-1")
    assert stored is not None and not verify(stored)


async def test_get_of_a_missing_id_is_none(subject: ArchiveUnderTest) -> None:
    assert await subject.archive.get("call-never-archived") is None
    await subject.archive.upsert(call(1))
    assert await subject.archive.get("call-never-archived") is None
    assert await subject.archive.get_claim("CLM-never-filed") is None


async def test_list_filters_by_caller_status_claim_and_time_newest_first(subject: ArchiveUnderTest) -> None:
    archive = subject.archive
    await archive.upsert(call(1))
    await archive.upsert(call(2, caller="+15550000002", status="transferred"))
    await archive.upsert(call(3, claim_id="CLM-3"))
    await archive.upsert(call(4, caller="+15550000002", claim_id="CLM-4"))

    async def ids(**filter: Any) -> list[str]:
        return [record.workflow_id for record in await archive.list(CallFilter(**filter))]

    assert await ids() == ["call-4", "call-3", "call-2", "call-1"]
    assert await ids(caller="+15550000002") == ["call-4", "call-2"]
    assert await ids(status="transferred") == ["call-2"]
    assert await ids(claim_id="CLM-3") == ["call-3"]
    assert await ids(started_after="2026-11-24T10:02:00+00:00") == ["call-4", "call-3", "call-2"]
    assert await ids(started_before="2026-11-24T10:02:00Z") == ["call-1"]
    assert await ids(started_after="2026-11-24T11:02:00+01:00", started_before="2026-11-24T10:04:00Z") == [
        "call-3",
        "call-2",
    ]
    assert await ids(caller="+15550000001", status="completed", limit=1) == ["call-3"]
    assert await ids(caller="+19999999999") == []
    for record in await archive.list():
        assert verify(record)


async def test_claims_live_in_their_own_collection_with_the_same_upsert_rules(subject: ArchiveUnderTest) -> None:
    archive = subject.archive
    claim = ClaimRecord(
        claim_id="CLM-1",
        workflow_id="call-1",
        caller="+15550000001",
        created_at="2026-11-24T10:01:00.000000+00:00",
        details={"vehicle": "car", "injuries": 0, "location": "Main St"},
    )
    other = ClaimRecord(
        claim_id="CLM-2", workflow_id="call-2", caller="+15550000002", created_at="2026-11-24T10:02:00.000000+00:00"
    )

    assert (await archive.upsert_claim(claim)).outcome == UpsertOutcome.CREATED
    assert (await archive.upsert_claim(claim)).outcome == UpsertOutcome.UNCHANGED
    await archive.upsert_claim(other)
    closed = dataclasses.replace(claim, status="closed", events=[{"type": "claim_closed", "at": "2026-12-01"}])
    updated = await archive.upsert_claim(closed)

    assert (updated.outcome, updated.revision) == (UpsertOutcome.UPDATED, 2)
    stored = await archive.get_claim("CLM-1")
    assert stored is not None and stored.status == "closed" and stored.details["location"] == "Main St"
    assert verify(stored)
    assert [c.claim_id for c in await archive.list_claims()] == ["CLM-2", "CLM-1"]
    assert [c.claim_id for c in await archive.list_claims(ClaimFilter(status="closed"))] == ["CLM-1"]
    assert [c.claim_id for c in await archive.list_claims(ClaimFilter(caller="+15550000002"))] == ["CLM-2"]
    assert [c.claim_id for c in await archive.list_claims(ClaimFilter(workflow_id="call-1"))] == ["CLM-1"]
    assert await archive.list() == []  # claims are not calls


async def test_concurrent_upserts_of_the_same_record_store_it_once(subject: ArchiveUnderTest) -> None:
    results = await asyncio.gather(*(subject.archive.upsert(call(1)) for _ in range(8)))

    outcomes = sorted(result.outcome for result in results)
    assert outcomes == [UpsertOutcome.CREATED] + [UpsertOutcome.UNCHANGED] * 7
    assert len({result.content_hash for result in results}) == 1
    assert len(await subject.archive.list()) == 1


async def test_concurrent_upserts_of_different_versions_leave_one_intact_record(subject: ArchiveUnderTest) -> None:
    versions = [call(1, end_reason=f"reason-{i}") for i in range(6)]

    results = await asyncio.gather(*(subject.archive.upsert(version) for version in versions))

    assert [r.outcome for r in results].count(UpsertOutcome.CREATED) == 1
    stored = await subject.archive.list()
    assert len(stored) == 1 and verify(stored[0])
    assert stored[0] in [dataclasses.replace(v, content_hash=content_hash(v)) for v in versions]


async def test_ids_that_cosmos_cannot_hold_are_refused_by_every_backend(subject: ArchiveUnderTest) -> None:
    for bad in ["", "call/1", "call?1", "call#1", "call\\1"]:
        with pytest.raises(ValueError):
            await subject.archive.upsert(call(1, workflow_id=bad))
        with pytest.raises(ValueError):
            await subject.archive.get(bad)


async def test_a_closed_archive_refuses_further_use(subject: ArchiveUnderTest) -> None:
    await subject.archive.aclose()
    await subject.archive.aclose()  # idempotent

    with pytest.raises(StorageClosedError):
        await subject.archive.get("call-1")
    with pytest.raises(StorageClosedError):
        await subject.archive.upsert(call(1))


# ---------------------------------------------------------------------------------------------------
# Backend specifics


async def test_sqlite_uses_wal_and_two_archives_on_one_file_do_not_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    async with SqliteArchive(path) as one, SqliteArchive(path) as two:
        results = await asyncio.gather(*(archive.upsert(call(1)) for archive in [one, two] * 4))

        assert [r.outcome for r in results].count(UpsertOutcome.CREATED) == 1
        assert len(await two.list()) == 1
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_the_cosmos_emulator_quirks_the_archive_works_around(cosmos_emulator: CosmosEmulator) -> None:  # noqa: F811 - fixture
    database = f"quirks-{uuid.uuid4().hex[:8]}"
    async with CosmosArchive.from_endpoint(cosmos_emulator.endpoint, cosmos_emulator.key, database=database) as archive:
        await archive.upsert(call(1))
        async with CosmosClient(cosmos_emulator.endpoint, credential=cosmos_emulator.key) as client:
            container = client.get_database_client(database).get_container_client("calls")

            # Reading a missing item answers 500, not 404 (the archive maps it to None after checking).
            with pytest.raises(CosmosHttpResponseError) as missing:
                await container.read_item("call-missing", partition_key="call-missing")
            assert missing.value.status_code == 500

            # A partition-scoped query must name the partition key in WHERE...
            with pytest.raises(CosmosHttpResponseError) as refused:
                _ = [d async for d in container.query_items("SELECT * FROM c", partition_key="call-1")]
            assert refused.value.status_code == 400
            # ...and the partition_key argument itself is ignored.
            query = "SELECT * FROM c WHERE c.workflow_id = @w"
            params: list[dict[str, Any]] = [{"name": "@w", "value": "call-1"}]
            found = [d async for d in container.query_items(query, parameters=params, partition_key="call-other")]
            assert [d["id"] for d in found] == ["call-1"]
            # Cross-partition listing queries work with any WHERE, TOP @n and ORDER BY.
            top = "SELECT TOP @n * FROM c WHERE c.caller = @c ORDER BY c.started_at DESC"
            listed = [
                d
                async for d in container.query_items(
                    top, parameters=[{"name": "@n", "value": 5}, {"name": "@c", "value": "+15550000001"}]
                )
            ]
            assert [d["id"] for d in listed] == ["call-1"]


class _FailingPointReads:
    """A container whose point reads fail with 500 (like the emulator on a missing item, or a real
    outage); its partition-scoped query answers with `documents`, or fails too when `outage`."""

    def __init__(self, documents: list[dict[str, Any]], *, outage: bool = False) -> None:
        self.documents = documents
        self.outage = outage

    async def read_item(self, item: str, partition_key: str) -> dict[str, Any]:
        raise CosmosHttpResponseError(status_code=500, message="internal server error")

    async def query_items(self, query: str, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        assert "c.workflow_id = @key" in query and kwargs["partition_key"] == "call-1"
        if self.outage:
            raise CosmosHttpResponseError(status_code=503, message="service unavailable")
        for document in self.documents:
            yield document


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (_FailingPointReads([]), None),
        (_FailingPointReads([{"id": "call-1", "workflow_id": "call-1", "status": "completed"}]), "completed"),
    ],
)
async def test_cosmos_takes_a_500_on_read_as_missing_only_when_a_query_confirms_it(
    cosmos_emulator: CosmosEmulator,  # noqa: F811 - fixture
    container: _FailingPointReads,
    expected: str | None,
) -> None:
    async with CosmosArchive.from_endpoint(cosmos_emulator.endpoint, cosmos_emulator.key) as archive:
        # Seam: the containers are resolved once; hand the archive one that fails point reads.
        archive._containers = {"calls": container, "claims": container}  # type: ignore[dict-item]

        record = await archive.get("call-1")

        assert (record.status if record else None) == expected


async def test_cosmos_does_not_mistake_a_real_outage_for_a_missing_record(
    cosmos_emulator: CosmosEmulator,  # noqa: F811 - fixture
) -> None:
    async with CosmosArchive.from_endpoint(cosmos_emulator.endpoint, cosmos_emulator.key) as archive:
        failing = _FailingPointReads([], outage=True)
        archive._containers = {"calls": failing, "claims": failing}  # type: ignore[dict-item]

        with pytest.raises(CosmosHttpResponseError) as raised:
            await archive.get("call-1")
        assert raised.value.status_code == 503


async def test_build_archive_picks_the_backend_from_settings(tmp_path: Path, cosmos_emulator: CosmosEmulator) -> None:  # noqa: F811 - fixture
    embedded = Settings.model_validate({"data_dir": tmp_path / "data"})
    async with build_archive(embedded) as archive:
        assert isinstance(archive, SqliteArchive)
        assert archive.path == tmp_path / "data" / "archive.sqlite3"
        await archive.upsert(call(1))
    assert (tmp_path / "data" / "archive.sqlite3").exists()

    cosmos = Settings.model_validate(
        {
            "archive": {
                "backend": "cosmos",
                "cosmos_endpoint": cosmos_emulator.endpoint,
                "cosmos_key": cosmos_emulator.key,
                "cosmos_database": f"factory-{uuid.uuid4().hex[:8]}",
            }
        }
    )
    async with build_archive(cosmos) as archive:
        assert isinstance(archive, CosmosArchive)
        assert (await archive.upsert(call(1))).outcome == UpsertOutcome.CREATED
        assert await archive.get("call-1") is not None

    with pytest.raises(StorageConfigError):
        build_archive(Settings.model_validate({"archive": {"backend": "cosmos"}}))

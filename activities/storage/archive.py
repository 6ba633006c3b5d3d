"""The call archive: call records and claim records, behind one async interface, two backends.

- `SqliteArchive`: a SQLite file (the embedded default), WAL mode, one worker thread per archive.
- `CosmosArchive`: Azure Cosmos DB through the `azure-cosmos` aio client; containers `calls`
  (partition key `/workflow_id`) and `claims` (partition key `/claim_id`), created when missing.

Upsert semantics (both backends, both collections), keyed by workflow id (calls) or claim id (claims):

- The archive seals the record itself: `content_hash` is recomputed from the content on every upsert,
  whatever the caller put there.
- No record under the key: it is stored, revision 1, outcome `created`.
- A record with the same content (an activity retry): nothing is written, outcome `unchanged`; the
  first `archived_at` and the hash stay as they were.
- Different content under the same key: the new record **replaces** the old one (last write wins),
  revision + 1, outcome `updated`. A call archived partially on recovery and then again in full ends up
  with the full record. The same happens when the stored copy was altered behind the archive's back:
  re-archiving the workflow's state repairs it. Temporal runs one workflow's activities in the order the
  workflow awaits them, so the last write is the workflow's latest state.
- Concurrent upserts of one key never duplicate it: SQLite serialises them in `BEGIN IMMEDIATE`
  transactions (also across processes sharing the file); Cosmos uses create-if-absent (409 on a race)
  and replace-if-etag-matches (412 on a race) and retries the read-compare-write with a short jittered
  back-off (`ArchiveConflictError` after 10 lost races, which a Temporal retry absorbs).

Listing returns newest first (`started_at` for calls, `created_at` for claims). Filters combine with AND;
`started_after` is inclusive, `started_before` exclusive.

Cosmos emulator notes (`@vercel/cosmosdb-server` 1.0.1, checked by the contract tests):
- Reading a missing item answers 500 ("Cannot read properties of undefined") instead of 404. A 500
  on a point read is therefore never taken as "missing" by itself: the read is repeated as a
  partition-scoped query (`WHERE c.<pk> = @key AND c.id = @key`, valid on real Cosmos too) and its
  answer stands: no document -> `None`, a document (it exists, or was created meanwhile by a concurrent
  writer) -> that document. A real server failure fails the query too, and that error propagates.
  Other statuses propagate unchanged. Real Cosmos answers 404, which maps to `None` directly.
  (The SDK itself retries a 500 once after a fixed 500 ms, so a missed point read costs that much on
  the emulator; the read inside `upsert`, usually a miss, is the query from the start.)
- A query sent with a `partition_key` must name the partition key in its WHERE clause (the argument is
  ignored otherwise, or the query is refused with 400 "missing partition keys"). Every partition-scoped
  query here names it. Listing queries are cross-partition (no `partition_key`; the SDK sends
  `x-ms-documentdb-query-enablecrosspartition`), which the emulator accepts with any WHERE clause,
  `TOP @n` and `ORDER BY`. `OFFSET ... LIMIT` is not understood by the emulator, so it is not used.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from azure.core import MatchConditions
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosHttpResponseError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from activities.storage.errors import ArchiveConflictError, StorageClosedError, StorageConfigError
from activities.storage.records import (
    CallRecord,
    ClaimRecord,
    call_record_from_document,
    claim_record_from_document,
    content_hash,
    record_to_document,
    seal,
    utc_iso,
)
from switchboard.settings import Settings

R = TypeVar("R", CallRecord, ClaimRecord)

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000


class UpsertOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class StoredRecord:
    """What an upsert did: the key, the stored hash, and the archive's bookkeeping."""

    key: str
    content_hash: str
    outcome: UpsertOutcome
    # 1 when first stored, + 1 on every replacement by different content.
    revision: int
    # When the key was first archived, and when its current content was written (UTC ISO 8601).
    archived_at: str
    stored_at: str


@dataclass(frozen=True, kw_only=True)
class CallFilter:
    caller: str | None = None
    status: str | None = None
    claim_id: str | None = None
    started_after: str | datetime | None = None  # inclusive
    started_before: str | datetime | None = None  # exclusive
    limit: int = DEFAULT_LIST_LIMIT


@dataclass(frozen=True, kw_only=True)
class ClaimFilter:
    caller: str | None = None
    status: str | None = None
    workflow_id: str | None = None
    limit: int = DEFAULT_LIST_LIMIT


@runtime_checkable
class CallArchive(Protocol):
    """Call records keyed by workflow id and claim records keyed by claim id; see the module doc."""

    async def upsert(self, record: CallRecord) -> StoredRecord: ...

    async def get(self, workflow_id: str) -> CallRecord | None: ...

    async def list(self, filter: CallFilter | None = None) -> builtins.list[CallRecord]: ...

    async def upsert_claim(self, claim: ClaimRecord) -> StoredRecord: ...

    async def get_claim(self, claim_id: str) -> ClaimRecord | None: ...

    async def list_claims(self, filter: ClaimFilter | None = None) -> builtins.list[ClaimRecord]: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def _now() -> str:
    return utc_iso(datetime.now(UTC))


def _limit(value: int) -> int:
    if value < 1:
        raise ValueError(f"limit must be at least 1, got {value}")
    return min(value, MAX_LIST_LIMIT)


def _require_key(key: str, what: str) -> str:
    # Cosmos refuses these in ids; refusing them everywhere keeps both backends interchangeable.
    if not key or any(ch in key for ch in "/\\?#") or any(ord(ch) < 32 for ch in key):
        raise ValueError(f"invalid {what}: {key!r}")
    return key


def _intact_and_equal(existing: R, sealed: R) -> bool:
    """True when the stored record still matches its hash and that hash is the new content's."""
    if existing.content_hash != sealed.content_hash:
        return False
    try:
        return content_hash(existing) == sealed.content_hash
    except (ValueError, TypeError):
        return False


class _ArchiveBase:
    _closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError(f"{type(self).__name__} is closed")

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


# ---------------------------------------------------------------------------------------------------
# SQLite


@dataclass(frozen=True)
class _SqlTable:
    name: str
    key: str
    # Indexed columns copied from the record next to its JSON body, for filters and ordering.
    columns: tuple[str, ...]
    order_by: str
    from_document: Callable[[Mapping[str, Any]], Any]


_CALLS_TABLE = _SqlTable(
    name="calls",
    key="workflow_id",
    columns=("caller", "status", "claim_id", "started_at"),
    order_by="started_at DESC, workflow_id",
    from_document=call_record_from_document,
)
_CLAIMS_TABLE = _SqlTable(
    name="claims",
    key="claim_id",
    columns=("workflow_id", "caller", "status", "created_at"),
    order_by="created_at DESC, claim_id",
    from_document=claim_record_from_document,
)
_SQLITE_SCHEMA_VERSION = 1


def _create_table_sql(table: _SqlTable) -> list[str]:
    columns = ", ".join(f"{column} TEXT NOT NULL DEFAULT ''" for column in table.columns)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {table.name} ("
        f"{table.key} TEXT PRIMARY KEY, {columns}, content_hash TEXT NOT NULL, revision INTEGER NOT NULL, "
        f"archived_at TEXT NOT NULL, stored_at TEXT NOT NULL, body TEXT NOT NULL)"
    ]
    statements += [
        f"CREATE INDEX IF NOT EXISTS {table.name}_{column} ON {table.name} ({column})" for column in table.columns
    ]
    return statements


class SqliteArchive(_ArchiveBase):
    """The archive in one SQLite file. Every statement runs on one dedicated worker thread (its
    connection never crosses threads); WAL mode lets other processes read while this one writes."""

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-archive")
        self._conn: sqlite3.Connection | None = None

    # -- plumbing (worker thread) --

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
        """Switch to WAL. The switch needs the file to itself and SQLite answers "locked" at once
        (the busy timeout does not apply) while another connection opens the same new file."""
        for attempt in range(attempts):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == attempts - 1:
                    raise
                time.sleep(0.02)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions, each write is an explicit BEGIN IMMEDIATE.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        self._enable_wal(conn)
        # FULL: a committed archive write survives power loss, not only a process crash.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in (_CALLS_TABLE, _CLAIMS_TABLE):
                for statement in _create_table_sql(table):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={_SQLITE_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            conn.close()
            raise
        return conn

    def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._conn is None:
            self._conn = self._open()
        return fn(self._conn, *args)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._in_thread, fn, *args))

    @staticmethod
    def _upsert(conn: sqlite3.Connection, table: _SqlTable, sealed: CallRecord | ClaimRecord) -> StoredRecord:
        key = getattr(sealed, table.key)
        now = _now()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                f"SELECT body, revision, archived_at, stored_at FROM {table.name} WHERE {table.key} = ?", (key,)
            ).fetchone()
            values = [getattr(sealed, column) for column in table.columns]
            body = json.dumps(record_to_document(sealed), sort_keys=True, ensure_ascii=False)
            if row is None:
                placeholders = ", ".join("?" for _ in range(len(table.columns) + 6))
                conn.execute(
                    f"INSERT INTO {table.name} ({table.key}, {', '.join(table.columns)}, content_hash, revision, "
                    f"archived_at, stored_at, body) VALUES ({placeholders})",
                    (key, *values, sealed.content_hash, 1, now, now, body),
                )
                result = StoredRecord(key, sealed.content_hash, UpsertOutcome.CREATED, 1, now, now)
            elif _intact_and_equal(table.from_document(json.loads(row["body"])), sealed):
                result = StoredRecord(
                    key,
                    sealed.content_hash,
                    UpsertOutcome.UNCHANGED,
                    row["revision"],
                    row["archived_at"],
                    row["stored_at"],
                )
            else:
                revision = int(row["revision"]) + 1
                assignments = ", ".join(f"{column} = ?" for column in table.columns)
                conn.execute(
                    f"UPDATE {table.name} SET {assignments}, content_hash = ?, revision = ?, stored_at = ?, body = ? "
                    f"WHERE {table.key} = ?",
                    (*values, sealed.content_hash, revision, now, body, key),
                )
                result = StoredRecord(
                    key, sealed.content_hash, UpsertOutcome.UPDATED, revision, row["archived_at"], now
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    @staticmethod
    def _get(conn: sqlite3.Connection, table: _SqlTable, key: str) -> Any:
        row = conn.execute(f"SELECT body FROM {table.name} WHERE {table.key} = ?", (key,)).fetchone()
        return None if row is None else table.from_document(json.loads(row["body"]))

    @staticmethod
    def _list(
        conn: sqlite3.Connection, table: _SqlTable, conditions: list[tuple[str, str, str]], limit: int
    ) -> list[Any]:
        where = " AND ".join(f"{column} {op} ?" for column, op, _ in conditions)
        sql = f"SELECT body FROM {table.name}"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {table.order_by} LIMIT ?"
        rows = conn.execute(sql, (*(value for _, _, value in conditions), limit)).fetchall()
        return [table.from_document(json.loads(row["body"])) for row in rows]

    # -- public API --

    async def upsert(self, record: CallRecord) -> StoredRecord:
        _require_key(record.workflow_id, "workflow id")
        result: StoredRecord = await self._run(self._upsert, _CALLS_TABLE, seal(record))
        return result

    async def get(self, workflow_id: str) -> CallRecord | None:
        result: CallRecord | None = await self._run(self._get, _CALLS_TABLE, _require_key(workflow_id, "workflow id"))
        return result

    async def list(self, filter: CallFilter | None = None) -> builtins.list[CallRecord]:
        filter = filter or CallFilter()
        result: list[CallRecord] = await self._run(
            self._list, _CALLS_TABLE, _call_conditions(filter), _limit(filter.limit)
        )
        return result

    async def upsert_claim(self, claim: ClaimRecord) -> StoredRecord:
        _require_key(claim.claim_id, "claim id")
        result: StoredRecord = await self._run(self._upsert, _CLAIMS_TABLE, seal(claim))
        return result

    async def get_claim(self, claim_id: str) -> ClaimRecord | None:
        result: ClaimRecord | None = await self._run(self._get, _CLAIMS_TABLE, _require_key(claim_id, "claim id"))
        return result

    async def list_claims(self, filter: ClaimFilter | None = None) -> builtins.list[ClaimRecord]:
        filter = filter or ClaimFilter()
        result: list[ClaimRecord] = await self._run(
            self._list, _CLAIMS_TABLE, _claim_conditions(filter), _limit(filter.limit)
        )
        return result

    async def aclose(self) -> None:
        if self._closed:
            return

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, close)
        self._closed = True
        self._executor.shutdown(wait=False)


def _call_conditions(filter: CallFilter) -> list[tuple[str, str, str]]:
    """(field, operator, value) triples shared by the SQL and Cosmos listing queries."""
    conditions: list[tuple[str, str, str]] = []
    for name in ("caller", "status", "claim_id"):
        value = getattr(filter, name)
        if value is not None:
            conditions.append((name, "=", value))
    if filter.started_after is not None:
        conditions.append(("started_at", ">=", utc_iso(filter.started_after)))
    if filter.started_before is not None:
        conditions.append(("started_at", "<", utc_iso(filter.started_before)))
    return conditions


def _claim_conditions(filter: ClaimFilter) -> list[tuple[str, str, str]]:
    return [
        (name, "=", getattr(filter, name))
        for name in ("caller", "status", "workflow_id")
        if getattr(filter, name) is not None
    ]


# ---------------------------------------------------------------------------------------------------
# Cosmos DB


@dataclass(frozen=True)
class _CosmosCollection:
    container: str
    partition_key: str
    order_by: str
    from_document: Callable[[Mapping[str, Any]], Any]
    kind: str


class CosmosArchive(_ArchiveBase):
    """The archive in Cosmos DB (SQL API). Database and containers are created on first use."""

    def __init__(
        self,
        client: CosmosClient,
        *,
        database: str = "switchboard",
        calls_container: str = "calls",
        claims_container: str = "claims",
        owns_client: bool = True,
        max_attempts: int = 10,
    ) -> None:
        self._client = client
        self._database_name = database
        self._calls = _CosmosCollection(calls_container, "workflow_id", "started_at", call_record_from_document, "call")
        self._claims = _CosmosCollection(
            claims_container, "claim_id", "created_at", claim_record_from_document, "claim"
        )
        self._owns_client = owns_client
        self._max_attempts = max_attempts
        self._containers: dict[str, ContainerProxy] = {}
        self._ready = asyncio.Lock()

    @classmethod
    def from_endpoint(cls, endpoint: str, key: str, *, database: str = "switchboard", **kwargs: Any) -> CosmosArchive:
        """An archive with its own client (closed by `aclose`). For an emulator with a self-signed
        certificate on `127.0.0.1`/`localhost` the SDK skips verification by itself."""
        return cls(CosmosClient(endpoint, credential=key), database=database, **kwargs)

    async def _container(self, collection: _CosmosCollection) -> ContainerProxy:
        self._check_open()
        if collection.container in self._containers:
            return self._containers[collection.container]
        async with self._ready:
            if not self._containers:
                database = await self._client.create_database_if_not_exists(self._database_name)
                for spec in (self._calls, self._claims):
                    self._containers[spec.container] = await database.create_container_if_not_exists(
                        id=spec.container, partition_key=PartitionKey(path=f"/{spec.partition_key}")
                    )
        return self._containers[collection.container]

    async def _query_by_key(self, collection: _CosmosCollection, key: str) -> dict[str, Any] | None:
        """The document under `key` through a partition-scoped query that names the partition key in its
        WHERE clause (the emulator needs that; real Cosmos accepts it). A miss is an empty answer."""
        container = await self._container(collection)
        query = f"SELECT * FROM c WHERE c.{collection.partition_key} = @key AND c.id = @key"
        found: list[dict[str, Any]] = [
            doc
            async for doc in container.query_items(
                query, parameters=[{"name": "@key", "value": key}], partition_key=key
            )
        ]
        return found[0] if found else None

    async def _read(self, collection: _CosmosCollection, key: str) -> dict[str, Any] | None:
        """Point read (1 RU on Cosmos), with the emulator's 500-for-missing confirmed by a query."""
        container = await self._container(collection)
        try:
            item: dict[str, Any] = await container.read_item(item=key, partition_key=key)
            return item
        except CosmosResourceNotFoundError:
            return None
        except CosmosHttpResponseError as err:
            if err.status_code != 500:
                raise
            # Possibly the emulator's answer to a missing item; the query's answer stands, and if the
            # service is really failing the query fails too and its error propagates.
            return await self._query_by_key(collection, key)

    async def _upsert(self, collection: _CosmosCollection, sealed: CallRecord | ClaimRecord) -> StoredRecord:
        container = await self._container(collection)
        key = getattr(sealed, collection.partition_key)
        for attempt in range(self._max_attempts):
            if attempt:
                # Lost a race: back off a little, with jitter, so contenders do not retry in lockstep.
                await asyncio.sleep(random.uniform(0, 0.01 * attempt))
            # A query, not a point read: the first archive of a call is a miss, which the emulator answers
            # with a 500 that the SDK retries after a fixed 500 ms; a query answers a miss at once.
            existing = await self._query_by_key(collection, key)
            now = _now()
            document = {**record_to_document(sealed), "id": key, "kind": collection.kind}
            if existing is None:
                try:
                    await container.create_item({**document, "revision": 1, "archived_at": now, "stored_at": now})
                except CosmosResourceExistsError:
                    continue  # a concurrent writer created it first: compare with theirs
                return StoredRecord(key, sealed.content_hash, UpsertOutcome.CREATED, 1, now, now)
            if _intact_and_equal(collection.from_document(existing), sealed):
                return StoredRecord(
                    key,
                    sealed.content_hash,
                    UpsertOutcome.UNCHANGED,
                    int(existing.get("revision", 1)),
                    str(existing.get("archived_at", "")),
                    str(existing.get("stored_at", "")),
                )
            revision = int(existing.get("revision", 1)) + 1
            archived_at = str(existing.get("archived_at", now))
            try:
                await container.replace_item(
                    item=key,
                    body={**document, "revision": revision, "archived_at": archived_at, "stored_at": now},
                    etag=existing["_etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
                continue  # changed or deleted since we read it: start over
            return StoredRecord(key, sealed.content_hash, UpsertOutcome.UPDATED, revision, archived_at, now)
        raise ArchiveConflictError(f"gave up upserting {collection.kind} {key!r} after {self._max_attempts} races")

    async def _list(
        self, collection: _CosmosCollection, conditions: list[tuple[str, str, str]], limit: int
    ) -> builtins.list[Any]:
        container = await self._container(collection)
        parameters: list[dict[str, Any]] = [{"name": "@limit", "value": limit}]
        clauses = []
        for index, (name, op, value) in enumerate(conditions):
            clauses.append(f"c.{name} {op} @p{index}")
            parameters.append({"name": f"@p{index}", "value": value})
        query = "SELECT TOP @limit * FROM c"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += f" ORDER BY c.{collection.order_by} DESC"
        # Cross-partition on purpose: no partition_key, so the emulator does not require one in WHERE.
        return [collection.from_document(doc) async for doc in container.query_items(query, parameters=parameters)]

    # -- public API --

    async def upsert(self, record: CallRecord) -> StoredRecord:
        _require_key(record.workflow_id, "workflow id")
        return await self._upsert(self._calls, seal(record))

    async def get(self, workflow_id: str) -> CallRecord | None:
        document = await self._read(self._calls, _require_key(workflow_id, "workflow id"))
        return None if document is None else call_record_from_document(document)

    async def list(self, filter: CallFilter | None = None) -> builtins.list[CallRecord]:
        filter = filter or CallFilter()
        return await self._list(self._calls, _call_conditions(filter), _limit(filter.limit))

    async def upsert_claim(self, claim: ClaimRecord) -> StoredRecord:
        _require_key(claim.claim_id, "claim id")
        return await self._upsert(self._claims, seal(claim))

    async def get_claim(self, claim_id: str) -> ClaimRecord | None:
        document = await self._read(self._claims, _require_key(claim_id, "claim id"))
        return None if document is None else claim_record_from_document(document)

    async def list_claims(self, filter: ClaimFilter | None = None) -> builtins.list[ClaimRecord]:
        filter = filter or ClaimFilter()
        return await self._list(self._claims, _claim_conditions(filter), _limit(filter.limit))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.close()


# ---------------------------------------------------------------------------------------------------
# Factory


def default_sqlite_path(settings: Settings) -> Path:
    return settings.archive.sqlite_path or settings.data_dir / "archive.sqlite3"


def build_archive(settings: Settings) -> CallArchive:
    """The archive the settings choose: `archive.backend` = `sqlite` (default) or `cosmos`."""
    archive = settings.archive
    if archive.backend == "sqlite":
        return SqliteArchive(default_sqlite_path(settings))
    if archive.backend == "cosmos":
        if not archive.cosmos_endpoint or archive.cosmos_key is None:
            raise StorageConfigError("archive.backend=cosmos needs archive.cosmos_endpoint and archive.cosmos_key")
        return CosmosArchive.from_endpoint(
            archive.cosmos_endpoint, archive.cosmos_key.get_secret_value(), database=archive.cosmos_database
        )
    raise StorageConfigError(f"unknown archive backend {archive.backend!r}")

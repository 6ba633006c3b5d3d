"""The storage package's exception tree.

    StorageError
    ├── StorageClosedError      a store used after `aclose()`
    ├── StorageConfigError      settings that cannot build a store (also a ValueError)
    ├── BlobNameError           a blob name that could escape its folder or is malformed (also a ValueError)
    ├── RecordSchemaError       a record of a schema version this code does not know (also a ValueError)
    └── ArchiveConflictError    an upsert lost the optimistic-concurrency race too many times (retryable)

Backend errors that are not one of these (an unreachable Cosmos account, a full disk) propagate
unchanged: they are transient as far as Temporal is concerned, so activity retries handle them.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error this package raises on purpose."""


class StorageClosedError(StorageError):
    """The store was closed with `aclose()` and cannot be used again."""


class StorageConfigError(StorageError, ValueError):
    """Settings that cannot build the requested backend (for example Cosmos without an endpoint)."""


class BlobNameError(StorageError, ValueError):
    """A blob name that is empty, absolute, or has `.`/`..`/empty segments, backslashes or control characters."""


class RecordSchemaError(StorageError, ValueError):
    """A record whose `schema_version` this code does not know how to hash."""


class ArchiveConflictError(StorageError):
    """An upsert kept losing to concurrent writers of the same key; safe to retry."""

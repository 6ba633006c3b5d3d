"""Blob storage for recordings and exported histories, behind one async interface, two backends.

- `LocalBlobStore`: a folder (the embedded default). Writes go to a temporary file in the target's
  folder, are fsynced, then renamed over the target, so a reader sees the old or the new bytes, never a
  torn file. Names that could leave the folder are refused (`BlobNameError`).
- `AzureBlobStore`: Azure Blob Storage (or Azurite) through `azure-storage-blob`'s aio client, built
  from a connection string; the container is created on first use.

`put` overwrites: writing the same name twice (an activity retry) leaves one blob with the last bytes.
Blob names are `/`-separated relative paths; both backends apply the same rules so that a name valid
for one is valid for the other.

Also here: a PCM16 WAV writer and reader (stdlib `wave`) for call recordings, and the blob name of a
call's recording.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from activities.storage.errors import BlobNameError, StorageClosedError, StorageConfigError
from switchboard.settings import Settings

MAX_BLOB_NAME_LENGTH = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
WAV_CONTENT_TYPE = "audio/wav"


@dataclass(frozen=True)
class BlobLocation:
    """Where `put` stored a blob, and what it stored."""

    name: str
    uri: str
    size: int
    content_type: str
    sha256: str


def validate_blob_name(name: str) -> str:
    """The name, if it is a safe relative `/`-separated path; `BlobNameError` otherwise."""
    if not isinstance(name, str) or not name:
        raise BlobNameError("blob name must be a non-empty string")
    if len(name) > MAX_BLOB_NAME_LENGTH:
        raise BlobNameError(f"blob name longer than {MAX_BLOB_NAME_LENGTH} characters")
    if name.startswith("/") or "\\" in name:
        raise BlobNameError(f"blob name must be a relative path with '/' separators: {name!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise BlobNameError(f"control character in blob name: {name!r}")
    if any(segment in {"", ".", ".."} for segment in name.split("/")):
        raise BlobNameError(f"empty, '.' or '..' segment in blob name: {name!r}")
    return name


def recording_blob_name(workflow_id: str, *, extension: str = "wav") -> str:
    """The blob name of a call's recording: `<workflow id>/recording.<extension>`."""
    if "/" in workflow_id:
        raise BlobNameError(f"workflow id with '/' cannot name a blob folder: {workflow_id!r}")
    return validate_blob_name(f"{workflow_id}/recording.{extension}")


@runtime_checkable
class BlobStore(Protocol):
    async def put(self, name: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobLocation: ...

    async def get(self, name: str) -> bytes | None: ...

    async def exists(self, name: str) -> bool: ...

    def location(self, name: str) -> str: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _StoreBase:
    _closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError(f"{type(self).__name__} is closed")

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _located(name: str, uri: str, data: bytes, content_type: str) -> BlobLocation:
    return BlobLocation(
        name=name, uri=uri, size=len(data), content_type=content_type, sha256=hashlib.sha256(data).hexdigest()
    )


# ---------------------------------------------------------------------------------------------------
# Local folder


class LocalBlobStore(_StoreBase):
    """Blobs as files under `root` (created when missing). File I/O runs in worker threads."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, name: str) -> Path:
        validate_blob_name(name)
        path = (self.root / name).resolve()
        # Also refuses names that reach outside through a symlink planted inside the folder.
        if not path.is_relative_to(self.root) or path == self.root:
            raise BlobNameError(f"blob name escapes the store's folder: {name!r}")
        return path

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        # Make the rename itself durable.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    async def put(self, name: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobLocation:
        self._check_open()
        path = self._path(name)
        await asyncio.to_thread(self._write, path, bytes(data))
        return _located(name, path.as_uri(), data, content_type)

    async def get(self, name: str) -> bytes | None:
        self._check_open()
        return await asyncio.to_thread(self._read, self._path(name))

    async def exists(self, name: str) -> bool:
        self._check_open()
        return await asyncio.to_thread(self._path(name).is_file)

    def location(self, name: str) -> str:
        return self._path(name).as_uri()


# ---------------------------------------------------------------------------------------------------
# Azure Blob Storage / Azurite


class AzureBlobStore(_StoreBase):
    """Blobs in one container of an Azure Storage account (or Azurite)."""

    def __init__(self, service: BlobServiceClient, container: str, *, owns_client: bool = True) -> None:
        self._service = service
        self._container: ContainerClient = service.get_container_client(container)
        self._owns_client = owns_client
        self._container_ready = False
        self._ready = asyncio.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str, container: str, **client_kwargs: Any) -> AzureBlobStore:
        """`client_kwargs` go to `BlobServiceClient.from_connection_string` (e.g. `api_version`)."""
        return cls(BlobServiceClient.from_connection_string(connection_string, **client_kwargs), container)

    async def _ensure_container(self) -> ContainerClient:
        self._check_open()
        if not self._container_ready:
            async with self._ready:
                if not self._container_ready:
                    try:
                        await self._container.create_container()
                    except ResourceExistsError:
                        pass
                    self._container_ready = True
        return self._container

    async def put(self, name: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobLocation:
        container = await self._ensure_container()
        blob = container.get_blob_client(validate_blob_name(name))
        await blob.upload_blob(bytes(data), overwrite=True, content_settings=ContentSettings(content_type=content_type))
        return _located(name, blob.url, data, content_type)

    async def get(self, name: str) -> bytes | None:
        container = await self._ensure_container()
        blob = container.get_blob_client(validate_blob_name(name))
        try:
            downloader = await blob.download_blob()
            return await downloader.readall()
        except ResourceNotFoundError:
            return None

    async def exists(self, name: str) -> bool:
        container = await self._ensure_container()
        return bool(await container.get_blob_client(validate_blob_name(name)).exists())

    def location(self, name: str) -> str:
        return str(self._container.get_blob_client(validate_blob_name(name)).url)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._service.close()


# ---------------------------------------------------------------------------------------------------
# WAV recordings


@dataclass(frozen=True)
class WavAudio:
    pcm: bytes
    sample_rate: int
    channels: int


def pcm16_wav(pcm: bytes, *, sample_rate: int, channels: int = 1) -> bytes:
    """A WAV file holding little-endian 16-bit PCM (`channels` 1 = mono, 2 = interleaved stereo)."""
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if len(pcm) % (2 * channels):
        raise ValueError(f"PCM16 with {channels} channel(s) needs a multiple of {2 * channels} bytes, got {len(pcm)}")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def interleave_stereo(left: bytes, right: bytes) -> bytes:
    """Two mono PCM16 tracks (e.g. caller and agent) as one interleaved stereo track; the shorter one
    is padded with silence."""
    if len(left) % 2 or len(right) % 2:
        raise ValueError("PCM16 tracks need an even number of bytes")
    length = max(len(left), len(right))
    left = left.ljust(length, b"\x00")
    right = right.ljust(length, b"\x00")
    out = bytearray(length * 2)
    out[0::4] = left[0::2]
    out[1::4] = left[1::2]
    out[2::4] = right[0::2]
    out[3::4] = right[1::2]
    return bytes(out)


def read_wav(data: bytes) -> WavAudio:
    """The PCM16 frames, rate and channel count of a WAV file (`ValueError` if not 16-bit PCM)."""
    with wave.open(io.BytesIO(data), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
        return WavAudio(
            pcm=wav.readframes(wav.getnframes()), sample_rate=wav.getframerate(), channels=wav.getnchannels()
        )


# ---------------------------------------------------------------------------------------------------
# Factory


def default_local_blob_path(settings: Settings) -> Path:
    return settings.blob.local_path or settings.data_dir / "blobs" / settings.blob.container


def build_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings choose: `blob.backend` = `local` (default) or `azure`."""
    blob = settings.blob
    if blob.backend == "local":
        return LocalBlobStore(default_local_blob_path(settings))
    if blob.backend == "azure":
        if blob.connection_string is None:
            raise StorageConfigError("blob.backend=azure needs blob.connection_string")
        return AzureBlobStore.from_connection_string(blob.connection_string.get_secret_value(), blob.container)
    raise StorageConfigError(f"unknown blob backend {blob.backend!r}")

"""One contract for every blob backend: a local folder (embedded default) and Azure Blob (Azurite);
plus the WAV writer recordings go through."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.storage.blob.aio import BlobServiceClient

from activities.storage import (
    AzureBlobStore,
    BlobNameError,
    BlobStore,
    LocalBlobStore,
    StorageClosedError,
    StorageConfigError,
    build_blob_store,
    interleave_stereo,
    pcm16_wav,
    read_wav,
    recording_blob_name,
)
from switchboard.settings import Settings
from tests.storage_emulators import AzuriteEmulator, azurite, node_emulators_bin  # noqa: F401 - fixtures

UNSAFE_NAMES = ["", "../escape.wav", "/etc/passwd", "a/../../b", "a//b", "./a", "a/.", "a\\b", "nul\x00byte", "a/\nb"]


@pytest.fixture(params=["local", "azure"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        async with LocalBlobStore(tmp_path / "blobs") as local:
            yield local
        return
    emulator: AzuriteEmulator = request.getfixturevalue("azurite")
    async with AzureBlobStore.from_connection_string(
        emulator.connection_string, f"rec-{uuid.uuid4().hex[:12]}"
    ) as azure:
        yield azure


async def test_put_then_get_returns_the_bytes_and_where_they_are(store: BlobStore) -> None:
    data = os.urandom(70_000)

    location = await store.put("call-1/recording.wav", data, "audio/wav")

    assert await store.get("call-1/recording.wav") == data
    assert location.name == "call-1/recording.wav"
    assert (location.size, location.content_type) == (len(data), "audio/wav")
    assert location.sha256 == hashlib.sha256(data).hexdigest()
    assert location.uri == store.location("call-1/recording.wav")


async def test_exists_tells_stored_from_missing_and_get_of_missing_is_none(store: BlobStore) -> None:
    assert not await store.exists("call-2/recording.wav")
    assert await store.get("call-2/recording.wav") is None

    await store.put("call-2/recording.wav", b"RIFF")

    assert await store.exists("call-2/recording.wav")
    assert not await store.exists("call-2")  # a folder-like prefix is not a blob


async def test_put_again_overwrites_so_a_retried_upload_leaves_one_blob(store: BlobStore) -> None:
    await store.put("history/call-3.json", b'{"v": 1}', "application/json")
    await store.put("history/call-3.json", b'{"v": 2}', "application/json")

    assert await store.get("history/call-3.json") == b'{"v": 2}'


async def test_empty_blobs_are_blobs(store: BlobStore) -> None:
    await store.put("empty.bin", b"")

    assert await store.exists("empty.bin")
    assert await store.get("empty.bin") == b""


@pytest.mark.parametrize("name", UNSAFE_NAMES)
async def test_names_that_could_escape_or_are_malformed_are_refused_by_every_backend(
    store: BlobStore, name: str
) -> None:
    with pytest.raises(BlobNameError):
        await store.put(name, b"x")
    with pytest.raises(BlobNameError):
        await store.get(name)
    with pytest.raises(BlobNameError):
        store.location(name)


async def test_a_closed_store_refuses_further_use(store: BlobStore) -> None:
    await store.aclose()
    await store.aclose()  # idempotent

    with pytest.raises(StorageClosedError):
        await store.put("late.bin", b"x")
    with pytest.raises(StorageClosedError):
        await store.get("late.bin")


# ---------------------------------------------------------------------------------------------------
# Backend specifics


async def test_local_store_writes_atomically_and_locates_blobs_as_file_uris(tmp_path: Path) -> None:
    async with LocalBlobStore(tmp_path / "blobs") as local:
        location = await local.put("call-1/recording.wav", b"one")
        await local.put("call-1/recording.wav", b"two")

        assert location.uri == (tmp_path / "blobs" / "call-1" / "recording.wav").resolve().as_uri()
        assert location.uri.startswith("file:///")
        # Only the blob itself: the temporary file was renamed over it.
        assert sorted(p.name for p in (tmp_path / "blobs" / "call-1").iterdir()) == ["recording.wav"]
        assert (tmp_path / "blobs" / "call-1" / "recording.wav").read_bytes() == b"two"


async def test_local_store_refuses_to_follow_a_symlink_out_of_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "link").symlink_to(outside, target_is_directory=True)

    async with LocalBlobStore(tmp_path / "blobs") as local:
        with pytest.raises(BlobNameError):
            await local.put("link/stolen.bin", b"x")
    assert list(outside.iterdir()) == []


async def test_azure_store_creates_its_container_and_records_the_content_type(azurite: AzuriteEmulator) -> None:  # noqa: F811 - fixture
    container = f"rec-{uuid.uuid4().hex[:12]}"
    async with AzureBlobStore.from_connection_string(azurite.connection_string, container) as azure:
        location = await azure.put("call-1/recording.wav", b"RIFF....", "audio/wav")

    assert location.uri == f"{azurite.blob_endpoint}/{container}/call-1/recording.wav"
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        properties = await service.get_blob_client(container, "call-1/recording.wav").get_blob_properties()
    assert properties.content_settings.content_type == "audio/wav"
    assert properties.size == 8


async def test_build_blob_store_picks_the_backend_from_settings(tmp_path: Path, azurite: AzuriteEmulator) -> None:  # noqa: F811 - fixture
    embedded = Settings.model_validate({"data_dir": tmp_path / "data"})
    async with build_blob_store(embedded) as local:
        assert isinstance(local, LocalBlobStore)
        await local.put("a.bin", b"a")
    assert (tmp_path / "data" / "blobs" / "recordings" / "a.bin").read_bytes() == b"a"

    azure_settings = Settings.model_validate(
        {"blob": {"backend": "azure", "connection_string": azurite.connection_string, "container": "factory-test"}}
    )
    async with build_blob_store(azure_settings) as azure:
        assert isinstance(azure, AzureBlobStore)
        await azure.put("a.bin", b"a")
        assert await azure.get("a.bin") == b"a"

    with pytest.raises(StorageConfigError):
        build_blob_store(Settings.model_validate({"blob": {"backend": "azure"}}))


# ---------------------------------------------------------------------------------------------------
# WAV recordings


def tone(samples: int, value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True) * samples


def test_a_mono_wav_round_trips() -> None:
    pcm = tone(16000, 1234)

    wav = pcm16_wav(pcm, sample_rate=16000)
    audio = read_wav(wav)

    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert (audio.pcm, audio.sample_rate, audio.channels) == (pcm, 16000, 1)


def test_two_tracks_interleave_into_a_stereo_wav_padding_the_shorter_with_silence() -> None:
    caller, agent = tone(3, 1000), tone(2, -2000)

    audio = read_wav(pcm16_wav(interleave_stereo(caller, agent), sample_rate=24000, channels=2))

    assert (audio.sample_rate, audio.channels) == (24000, 2)
    frames = [audio.pcm[i : i + 4] for i in range(0, len(audio.pcm), 4)]
    assert frames == [tone(1, 1000) + tone(1, -2000)] * 2 + [tone(1, 1000) + tone(1, 0)]


@pytest.mark.parametrize(
    ("pcm", "channels", "rate"),
    [(b"\x00", 1, 16000), (b"\x00\x00", 2, 16000), (b"", 3, 16000), (b"", 1, 0)],
)
def test_malformed_pcm_is_refused(pcm: bytes, channels: int, rate: int) -> None:
    with pytest.raises(ValueError):
        pcm16_wav(pcm, sample_rate=rate, channels=channels)


async def test_a_recording_is_stored_under_the_calls_name_and_read_back(store: BlobStore) -> None:
    pcm = tone(320, 500)
    name = recording_blob_name("call-corr-9")

    location = await store.put(name, pcm16_wav(pcm, sample_rate=16000), "audio/wav")
    stored = await store.get(name)

    assert name == "call-corr-9/recording.wav"
    assert location.uri.endswith("/call-corr-9/recording.wav")
    assert stored is not None and read_wav(stored).pcm == pcm
    with pytest.raises(BlobNameError):
        recording_blob_name("../call")

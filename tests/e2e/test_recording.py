"""A call's recording through the whole stack: the realtime worker records caller and agent audio,
uploads a stereo WAV after the socket closes, and the archived record says where it is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from activities.storage import AzureBlobStore, LocalBlobStore, SqliteArchive, read_wav, recording_blob_name
from activities.storage.archive import default_sqlite_path
from activities.storage.blobs import default_local_blob_path
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from tests.storage_emulators import AzuriteEmulator, azurite, node_emulators_bin  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

GREETING_THEN_HANG_UP = [
    {"wait_agent_done": {"quiet_ms": 500, "timeout": 20}},
    {"silence": 0.5},
    {"hang_up": True},
]


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    async with local_stack(settings, temporal_client) as running:
        yield running


async def test_a_call_is_recorded_in_stereo_and_the_archive_says_where(stack: LocalStack) -> None:
    call = await stack.emulator.place_call(caller="+15551239001", callee="+15550009999", script=GREETING_THEN_HANG_UP)
    await call.wait_for("media_opened", timeout=15)
    state = await stack.handle(call.call_id).result()

    name = recording_blob_name(state.workflow_id)
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        record = await archive.get(state.workflow_id)
    assert record is not None and record.recording_location, (state.media_active, state.media_ended_reason)
    assert record.recording_location == state.recording_location and name in record.recording_location

    async with LocalBlobStore(default_local_blob_path(stack.settings)) as blobs:
        data = await blobs.get(name)
    assert data is not None
    wav = read_wav(data)
    assert wav.channels == 2
    duration = len(wav.pcm) / (4 * wav.sample_rate)
    media_seconds = call.timeline.caller_frames_sent * 0.02
    assert media_seconds > 0.5 and abs(duration - media_seconds) < 0.3
    agent = wav.pcm[2::4] + wav.pcm[3::4]  # the right channel holds the greeting as sent
    assert any(agent)


async def test_a_call_is_recorded_to_azure_blob(
    settings: Settings,
    temporal_client: Client,
    redis_port: int,
    azurite: AzuriteEmulator,  # noqa: F811 - fixture
) -> None:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.blob.backend = "azure"
    settings.blob.connection_string = SecretStr(azurite.connection_string)
    settings.blob.container = f"rec{uuid.uuid4().hex[:12]}"
    async with local_stack(settings, temporal_client) as stack:
        call = await stack.emulator.place_call(
            caller="+15551239002", callee="+15550009999", script=GREETING_THEN_HANG_UP
        )
        await call.wait_for("media_opened", timeout=15)
        state = await stack.handle(call.call_id).result()

    name = recording_blob_name(state.workflow_id)
    assert state.recording_location == f"{azurite.blob_endpoint}/{settings.blob.container}/{name}"
    async with AzureBlobStore.from_connection_string(azurite.connection_string, settings.blob.container) as blobs:
        data = await blobs.get(name)
    assert data is not None and read_wav(data).channels == 2


@pytest.fixture
async def acs_recording_stack(
    settings: Settings, temporal_client: Client, redis_port: int
) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.acs.server_recording = True
    settings.acs.recording_storage_redirect = settings.acs.endpoint  # the emulator serves the files
    async with local_stack(settings, temporal_client) as running:
        yield running


async def test_acs_records_the_call_and_the_workflow_keeps_a_copy(acs_recording_stack: LocalStack) -> None:
    """start_recording on connect; after the call ACS publishes RecordingFileStatusUpdated through
    Event Grid; the API routes it to the workflow, which copies the WAV into our blob store, deletes
    ACS's copy, and archives the record again with where it is."""
    stack = acs_recording_stack
    call = await stack.emulator.place_call(caller="+15551239003", callee="+15550009999", script=GREETING_THEN_HANG_UP)
    state = await stack.handle(call.call_id).result()

    assert state.server_recording_id and state.server_recording_location
    start = [r for r in stack.emulator.requests if r.method == "POST" and r.path == "/calling/recordings"]
    assert len(start) == 1 and start[0].body["callLocator"]["serverCallId"] == state.server_call_id
    async with SqliteArchive(default_sqlite_path(stack.settings)) as archive:
        record = await archive.get(state.workflow_id)
    assert record is not None and record.server_recording_location == state.server_recording_location
    assert record.content_hash == state.archive_hash  # the second archive (with the file) is the record

    name = f"{state.workflow_id}/acs-{state.server_recording_id}.wav"
    async with LocalBlobStore(default_local_blob_path(stack.settings)) as blobs:
        data = await blobs.get(name)
    assert data is not None and name in state.server_recording_location
    wav = read_wav(data)
    assert wav.channels == 1 and any(wav.pcm)  # mixed: the caller's line and the greeting
    assert abs(len(wav.pcm) / (2 * wav.sample_rate) - call.timeline.caller_frames_sent * 0.02) < 1.0
    deleted = [r for r in stack.emulator.requests if r.method == "DELETE" and "/v1/objects/" in r.path]
    assert len(deleted) == 1  # ACS's copy is gone once ours is stored

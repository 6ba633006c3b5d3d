"""`RecordingActivities` through the real Call Automation SDK against the ACS emulator: starting a
recording survives activity retries, and storing copies the published WAV into a local folder or Azure
Blob (Azurite), idempotently, then deletes ACS's copy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.recording import (
    RecordingActivities,
    RecordingStarted,
    StartRecordingInput,
    StoredRecording,
    StoreRecordingInput,
    acs_recording_blob_name,
)
from activities.storage import AzureBlobStore, BlobStore, LocalBlobStore
from emulators.acs import AcsEmulator, EmulatorOptions, SimulatedCall
from tests.emulators.acs.conftest import StubApp
from tests.storage_emulators import AzuriteEmulator, azurite, node_emulators_bin  # noqa: F401 - fixtures

ACCESS_KEY = base64.b64encode(b"switchboard-recording-test-key-0").decode()
APP_NUMBER = "+15550100000"
CALLER = "+15550123456"
FILE_EVENT = "Microsoft.Communication.RecordingFileStatusUpdated"


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def stub_app() -> AsyncIterator[StubApp]:
    stub = StubApp()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    stub.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _QuietServer(uvicorn.Config(stub.build(), log_level="warning", lifespan="off", ws="none"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield stub
    server.should_exit = True
    await asyncio.wait_for(task, 5)
    sock.close()


@pytest.fixture
async def emulator(stub_app: StubApp) -> AsyncIterator[AcsEmulator]:
    options = EmulatorOptions(connect_delay=0.01, callback_backoff=0.02, recording_file_delay=0.01)
    async with AcsEmulator(access_key=ACCESS_KEY, event_grid_url=stub_app.event_grid_url, options=options) as emu:
        yield emu


@pytest.fixture
async def client(emulator: AcsEmulator) -> AsyncIterator[CallAutomationClient]:
    async with CallAutomationClient(
        emulator.endpoint, AzureKeyCredential(ACCESS_KEY), transport=emulator.storage_transport()
    ) as sdk:
        yield sdk


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


async def _connected_call(emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient) -> SimulatedCall:
    call = await emulator.place_call(caller=CALLER, callee=APP_NUMBER)
    (event,) = await stub_app.wait_incoming(1)
    await client.answer_call(event["data"]["incomingCallContext"], stub_app.callback_url)
    await call.wait_for("connected", timeout=5)
    return call


async def _recorded(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, activities: RecordingActivities
) -> tuple[SimulatedCall, RecordingStarted, dict[str, Any]]:
    """A call recorded for 0.3 s through the activity, stopped; returns the published chunk."""
    call = await _connected_call(emulator, stub_app, client)
    started = await ActivityEnvironment().run(
        activities.start_recording, StartRecordingInput(workflow_id="wf-1", server_call_id=call.server_call_id)
    )
    await asyncio.sleep(0.3)
    await client.stop_recording(started.recording_id)
    await emulator.wait_recording_file(started.recording_id)
    (event,) = [e for e in stub_app.notifications() if e["eventType"] == FILE_EVENT]
    return call, started, event["data"]["recordingStorageInfo"]["recordingChunks"][0]


def _store_input(recording_id: str, chunk: dict[str, Any], *, delete: bool = True) -> StoreRecordingInput:
    return StoreRecordingInput(
        workflow_id="wf-1",
        recording_id=recording_id,
        content_location=chunk["contentLocation"],
        metadata_location=chunk["metadataLocation"],
        delete_location=chunk["deleteLocation"] if delete else "",
        document_id=chunk["documentId"],
    )


async def test_a_retried_start_recording_gets_the_first_recording_back(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, tmp_path: Path
) -> None:
    activities = RecordingActivities(client, LocalBlobStore(tmp_path))
    call = await _connected_call(emulator, stub_app, client)
    request = StartRecordingInput(workflow_id="wf-1", server_call_id=call.server_call_id, operation_context="rec")
    env = ActivityEnvironment()

    first = await env.run(activities.start_recording, request)
    retried = await env.run(activities.start_recording, request)  # same activity, next attempt

    assert first == retried and first.state == "active"
    assert [r.recording_id for r in call.recordings] == [first.recording_id]
    starts = [r for r in emulator.requests if r.operation == "start_recording"]
    assert [r.repeated for r in starts] == [False, True]
    assert starts[0].headers["repeatability-request-id"] == starts[1].headers["repeatability-request-id"]
    assert starts[0].headers["repeatability-first-sent"] == starts[1].headers["repeatability-first-sent"]
    body = starts[0].body
    assert body["callLocator"] == {"serverCallId": call.server_call_id, "kind": "serverCallLocator"}
    assert (body["recordingContentType"], body["recordingChannelType"], body["recordingFormatType"]) == (
        "audio",
        "mixed",
        "wav",
    )

    env.info = dataclasses.replace(env.info, activity_id="another-start")  # a new activity, not a retry
    second = await env.run(activities.start_recording, request)
    assert second.recording_id != first.recording_id


async def test_starting_a_recording_on_an_ended_call_fails_for_good(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, tmp_path: Path
) -> None:
    activities = RecordingActivities(client, LocalBlobStore(tmp_path))
    call = await _connected_call(emulator, stub_app, client)
    await call.caller_hang_up()
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(
            activities.start_recording, StartRecordingInput(workflow_id="wf-1", server_call_id=call.server_call_id)
        )
    assert info.value.type == "StartRecordingFailed" and info.value.non_retryable


async def test_store_recording_copies_the_wav_deletes_the_acs_copy_and_is_idempotent(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, store: BlobStore
) -> None:
    activities = RecordingActivities(client, store)
    _, started, chunk = await _recorded(emulator, stub_app, client, activities)
    file = emulator.recording_files[chunk["documentId"]]
    expected_name = f"wf-1/acs-{started.recording_id}.wav"
    assert acs_recording_blob_name("wf-1", started.recording_id) == expected_name
    heartbeats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.append(details)

    stored = await env.run(activities.store_recording, _store_input(started.recording_id, chunk))

    assert stored == StoredRecording(
        location=store.location(expected_name),
        size_bytes=len(file.content),
        sha256=hashlib.sha256(file.content).hexdigest(),
        deleted_from_acs=True,
    )
    assert await store.get(expected_name) == file.content
    assert file.deleted
    assert heartbeats and heartbeats[0][0] == "downloading" and ("downloaded", len(file.content)) in heartbeats

    # A retry after ACS's copy is gone: the stored blob is the result.
    again = await env.run(activities.store_recording, _store_input(started.recording_id, chunk))
    assert again == stored
    operations = [(r.operation, r.status) for r in emulator.requests if r.path.startswith("/v1/objects/")]
    assert operations == [("download_recording", 200), ("delete_recording", 200), ("download_recording", 404)]


async def test_store_recording_without_delete_overwrites_the_same_blob_on_a_second_run(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, store: BlobStore
) -> None:
    activities = RecordingActivities(client, store)
    _, started, chunk = await _recorded(emulator, stub_app, client, activities)
    request = _store_input(started.recording_id, chunk, delete=False)

    first = await ActivityEnvironment().run(activities.store_recording, request)
    second = await ActivityEnvironment().run(activities.store_recording, request)

    assert first == second and not first.deleted_from_acs
    assert await store.get(acs_recording_blob_name("wf-1", started.recording_id)) == (
        emulator.recording_files[chunk["documentId"]].content
    )
    assert [r.status for r in emulator.requests if r.operation == "download_recording"] == [200, 200]
    assert not any(r.operation == "delete_recording" for r in emulator.requests)


async def test_non_wav_content_is_an_invalid_recording_and_nothing_is_stored_or_deleted(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    activities = RecordingActivities(client, store)
    _, started, chunk = await _recorded(emulator, stub_app, client, activities)
    file = emulator.recording_files[chunk["documentId"]]
    file.content = b"ID3\x04\x00\x00" + bytes(5000)  # say, an MP3

    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities.store_recording, _store_input(started.recording_id, chunk))

    assert info.value.type == "InvalidRecording" and info.value.non_retryable
    assert not await store.exists(acs_recording_blob_name("wf-1", started.recording_id))
    assert not file.deleted


async def test_a_recording_gone_from_acs_and_never_stored_is_not_found(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, tmp_path: Path
) -> None:
    activities = RecordingActivities(client, LocalBlobStore(tmp_path / "blobs"))
    _, started, chunk = await _recorded(emulator, stub_app, client, activities)
    await client.delete_recording(chunk["deleteLocation"])

    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities.store_recording, _store_input(started.recording_id, chunk))
    assert info.value.type == "RecordingNotFound" and info.value.non_retryable


async def test_a_location_the_sdk_refuses_fails_for_good(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient, tmp_path: Path
) -> None:
    activities = RecordingActivities(client, LocalBlobStore(tmp_path / "blobs"))
    request = StoreRecordingInput(
        workflow_id="wf-1", recording_id="r-1", content_location=f"{emulator.endpoint}/v1/objects/d/content/audio"
    )
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities.store_recording, request)
    assert info.value.type == "InvalidRecordingLocation" and info.value.non_retryable
    assert not any(r.path.startswith("/v1/") for r in emulator.requests)  # refused before sending

"""ACS server-side call recording as Temporal activities: start a recording, then (once ACS has
published `Microsoft.Communication.RecordingFileStatusUpdated`) copy the file into our blob store and
delete ACS's copy. All through the real Call Automation SDK.

`RecordingActivities` receives its clients when the worker is built: the aio `CallAutomationClient`
and a `BlobStore`. ACS 4xx answers are business failures (non-retryable, typed); 5xx, 429 and
transport errors are retried by Temporal.

Retries never duplicate:
- `start_recording` sends a `Repeatability-Request-ID` derived from the activity's identity (workflow
  run + activity id + server call id) with `Repeatability-First-Sent` = when the activity was first
  scheduled, so a retried attempt is the *same* request to ACS and gets the first recording back.
- `store_recording` writes one blob name per recording and overwrites it; if a previous attempt
  already stored the file and deleted ACS's copy (download answers 404), the stored blob is the result.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TypeVar, cast

from azure.communication.callautomation import RecordingChannel, RecordingContent, RecordingFormat
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import AsyncHttpResponse
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.acs import acs_failure
from activities.storage import BlobNameError, BlobStore, validate_blob_name

T = TypeVar("T")

WAV_CONTENT_TYPE = "audio/wav"
HEARTBEAT_SECONDS = 1.0
_REPEATABILITY_NAMESPACE = uuid.UUID("0b9c1f8e-5d2a-4c1e-9a57-3f6c2d8e7a41")


@dataclass
class StartRecordingInput:
    workflow_id: str
    server_call_id: str
    operation_context: str = ""  # logged only: Call Automation's start recording takes no context
    state_callback_url: str = ""  # RecordingStateChanged goes here; default: the call's callback URI


@dataclass
class RecordingStarted:
    recording_id: str
    state: str = ""


@dataclass
class StoreRecordingInput:
    workflow_id: str
    recording_id: str
    content_location: str
    metadata_location: str = ""
    delete_location: str = ""
    document_id: str = ""


@dataclass
class StoredRecording:
    location: str  # where it is in our blob store (the BlobStore's location string)
    size_bytes: int
    sha256: str
    deleted_from_acs: bool = False


def acs_recording_blob_name(workflow_id: str, recording_id: str) -> str:
    """`<workflow id>/acs-<recording id>.wav`: beside the realtime worker's `<workflow id>/recording.wav`
    (`recording_blob_name`), in the same container (`recordings` by default)."""
    if "/" in workflow_id or "/" in recording_id:
        raise BlobNameError(f"ids with '/' cannot name a blob: {workflow_id!r}, {recording_id!r}")
    return validate_blob_name(f"{workflow_id}/acs-{recording_id}.wav")


def is_wav(head: bytes) -> bool:
    """A RIFF/WAVE file starts with b"RIFF", a 4-byte size, then b"WAVE"."""
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


class _Throttle:
    """Heartbeat at most once per `seconds` (Temporal throttles too, but each call still costs)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._last = 0.0

    def beat(self, *details: object, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self._seconds:
            self._last = now
            activity.heartbeat(*details)


class RecordingActivities:
    def __init__(self, client: CallAutomationClient, blobs: BlobStore) -> None:
        self._client = client
        self._blobs = blobs

    @activity.defn(name="start_recording")
    async def start_recording(self, request: StartRecordingInput) -> RecordingStarted:
        """Start a mixed audio WAV recording of the call. A retry repeats the same ACS request."""
        info = activity.info()
        request_id = uuid.uuid5(
            _REPEATABILITY_NAMESPACE,
            f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}/{request.server_call_id}",
        )
        headers = {
            "Repeatability-Request-ID": str(request_id),
            "Repeatability-First-Sent": _rfc1123(info.scheduled_time),
        }
        try:
            properties = await self._client.start_recording(
                server_call_id=request.server_call_id,
                recording_content_type=RecordingContent.AUDIO,
                recording_channel_type=RecordingChannel.MIXED,
                recording_format_type=RecordingFormat.WAV,
                recording_state_callback_url=request.state_callback_url or None,
                headers=headers,
            )
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="StartRecordingFailed") from err
        activity.logger.info(
            "recording %s started for %s (%s)", properties.recording_id, request.workflow_id, request.operation_context
        )
        return RecordingStarted(recording_id=properties.recording_id or "", state=str(properties.recording_state or ""))

    @activity.defn(name="store_recording")
    async def store_recording(self, request: StoreRecordingInput) -> StoredRecording:
        """Download the recording (streamed), check it is a WAV, put it in the blob store under
        `acs_recording_blob_name`, then delete ACS's copy when a delete location is given."""
        try:
            name = acs_recording_blob_name(request.workflow_id, request.recording_id)
        except BlobNameError as err:
            raise ApplicationError(str(err), type="InvalidRecording", non_retryable=True) from err
        try:
            data = await self._download(request.content_location)
        except ResourceNotFoundError as err:
            stored = await self._blobs.get(name)
            if stored is None:
                raise ApplicationError(
                    f"recording {request.recording_id} is gone from ACS and not in the blob store",
                    type="RecordingNotFound",
                    non_retryable=True,
                ) from err
            activity.logger.info("recording %s already stored (ACS copy gone)", request.recording_id)
            return StoredRecording(
                location=self._blobs.location(name),
                size_bytes=len(stored),
                sha256=hashlib.sha256(stored).hexdigest(),
                deleted_from_acs=True,
            )
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="DownloadRecordingFailed") from err

        location = await self._blobs.put(name, data, WAV_CONTENT_TYPE)
        activity.heartbeat("stored", location.size)
        deleted = False
        if request.delete_location:
            deleted = await self._delete(request.delete_location)
        activity.logger.info(
            "recording %s of %s stored at %s (%d bytes)",
            request.recording_id,
            request.workflow_id,
            location.uri,
            location.size,
        )
        return StoredRecording(
            location=self._blobs.location(name),
            size_bytes=location.size,
            sha256=location.sha256,
            deleted_from_acs=deleted,
        )

    async def _download(self, content_location: str) -> bytes:
        """The whole file, read chunk by chunk from the SDK's stream (heartbeating as it goes); a
        non-WAV start fails at once, before the rest is read."""
        throttle = _Throttle(HEARTBEAT_SECONDS)
        throttle.beat("downloading", 0, force=True)
        # Typed AsyncIterable[bytes], it is the streamed HTTP response (azure-sdk-for-python #42835).
        response = cast(AsyncHttpResponse, await _checked_location(self._client.download_recording(content_location)))
        data = bytearray()
        checked = False
        try:
            async for chunk in response.iter_bytes():
                data += chunk
                if not checked and len(data) >= 12:
                    _require_wav(bytes(data[:12]))
                    checked = True
                throttle.beat("downloading", len(data))
        finally:
            await response.close()
        if not checked:
            _require_wav(bytes(data))
        throttle.beat("downloaded", len(data), force=True)
        return bytes(data)

    async def _delete(self, delete_location: str) -> bool:
        try:
            await _checked_location(self._client.delete_recording(delete_location))
        except ResourceNotFoundError:
            activity.logger.info("ACS copy at %s already deleted", delete_location)
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="DeleteRecordingFailed") from err
        return True


async def _checked_location(call: Awaitable[T]) -> T:
    """Await an SDK download/delete; the SDK refuses (ValueError/TypeError, before any request) a URL
    that is not https on an ACS recording host: no retry can fix that."""
    try:
        return await call
    except (ValueError, TypeError) as err:
        raise ApplicationError(
            f"not an ACS recording location: {err}", type="InvalidRecordingLocation", non_retryable=True
        ) from err


def _rfc1123(moment: datetime) -> str:
    return format_datetime((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC), usegmt=True)


def _require_wav(head: bytes) -> None:
    if not is_wav(head):
        raise ApplicationError(
            f"the recording is not a RIFF/WAVE file (starts with {head[:12]!r})",
            type="InvalidRecording",
            non_retryable=True,
        )

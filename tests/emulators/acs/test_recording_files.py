"""Server-side recording in the emulator, driven by the real Call Automation SDK: the mixed WAV it
captures (caller script + what the app played), RecordingFileStatusUpdated through Event Grid, and
the content / metadata / delete locations the SDK downloads from and deletes at."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from azure.communication.callautomation import MediaStreamingOptions
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from emulators.acs import AcsEmulator, HangUp, Say, Silence, SimulatedCall
from emulators.acs._auth import content_sha256, sign

from .conftest import ACCESS_KEY, APP_NUMBER, CALLER, MediaPeer, PeerConnection, StubApp

RATE = 16000
CALLER_HZ = 440  # tone_renderer's caller "speech"
AGENT_HZ = 1000  # what the app plays in these tests
WINDOW = 0.05  # seconds per analysis window (800 samples: 440 and 1000 Hz fall on exact FFT bins)
FILE_EVENT = "Microsoft.Communication.RecordingFileStatusUpdated"


@pytest.fixture
async def client(emulator: AcsEmulator) -> AsyncIterator[CallAutomationClient]:
    async with CallAutomationClient(
        emulator.endpoint, AzureKeyCredential(ACCESS_KEY), transport=emulator.storage_transport()
    ) as sdk:
        yield sdk


def _tone(hz: int, seconds: float, amplitude: int = 8000) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype("<i2").tobytes()


async def _connected(
    emulator: AcsEmulator,
    stub_app: StubApp,
    media_peer: MediaPeer,
    client: CallAutomationClient,
    script: list[Any],
) -> tuple[SimulatedCall, PeerConnection]:
    call = await emulator.place_call(caller=CALLER, callee=APP_NUMBER, script=script)
    (event,) = await stub_app.wait_incoming(1)
    media = MediaStreamingOptions(
        transport_url=media_peer.url(),
        transport_type="websocket",
        content_type="audio",
        audio_channel_type="mixed",
        start_media_streaming=True,
        enable_bidirectional=True,
        audio_format="pcm16KMono",
    )
    await client.answer_call(event["data"]["incomingCallContext"], stub_app.callback_url, media_streaming=media)
    peer = await media_peer.next_connection()
    await call.wait_for("media_opened", timeout=5)
    return call, peer


def _file_events(stub_app: StubApp) -> list[dict[str, Any]]:
    return [e for e in stub_app.notifications() if e["eventType"] == FILE_EVENT]


def _wav(content: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(content), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


def _windows(samples: np.ndarray, hz: int) -> list[float]:
    """Magnitude at `hz` in consecutive WINDOW-long windows."""
    size = int(RATE * WINDOW)
    bin_index = round(hz * WINDOW)
    return [
        float(np.abs(np.fft.rfft(samples[i : i + size].astype(np.float64)))[bin_index])
        for i in range(0, len(samples) - size + 1, size)
    ]


def _spans(samples: np.ndarray, hz: int, other: int) -> list[tuple[float, float]]:
    """Where (seconds into the recording) `hz` clearly dominates `other`."""
    mine, theirs = _windows(samples, hz), _windows(samples, other)
    loud = [i for i, (m, o) in enumerate(zip(mine, theirs, strict=True)) if m > 1e5 and m > 4 * o]
    return [(i * WINDOW, (i + 1) * WINDOW) for i in loud]


async def _download(client: CallAutomationClient, url: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    response: Any = await client.download_recording(url, **kwargs)
    body = b"".join([chunk async for chunk in response.iter_bytes()])
    await response.close()
    return response.status_code, dict(response.headers), body


async def _start(client: CallAutomationClient, call: SimulatedCall, **kwargs: Any) -> tuple[str, str]:
    """Start a recording of `call` through the SDK: (recording id, state)."""
    props = await client.start_recording(server_call_id=call.server_call_id, **kwargs)
    assert props.recording_id is not None
    return props.recording_id, str(props.recording_state)


async def _callback_states(stub_app: StubApp, call: SimulatedCall, count: int) -> list[str]:
    assert call.call_connection_id is not None
    for _ in range(100):
        states = [
            e["data"]["state"]
            for e in stub_app.callback_events(call.call_connection_id)
            if e["type"].endswith("RecordingStateChanged")
        ]
        if len(states) >= count:
            return states
        await asyncio.sleep(0.02)
    return states


async def test_call_ending_while_recording_delivers_one_file_event_with_the_documented_shape(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer, client: CallAutomationClient
) -> None:
    script = [Silence(0.6), Say("one two three four five six"), Silence(1.4), HangUp()]
    call, peer = await _connected(emulator, stub_app, media_peer, client, script)
    before = time.perf_counter()
    recording_id, state = await _start(client, call)
    after = time.perf_counter()
    assert state == "active"

    while not call.timeline.caller_utterances or call.timeline.caller_utterances[0].ended_at is None:
        await asyncio.sleep(0.02)
    await peer.send_audio(_tone(AGENT_HZ, 0.4), chunk=640)  # the app answers after the caller
    await call.wait_for("disconnected", timeout=10)
    ended = call.milestones["disconnected"]
    file = await emulator.wait_recording_file(recording_id, timeout=10)
    await asyncio.sleep(0.2)  # nothing else may follow

    (event,) = _file_events(stub_app)
    post = next(r for r in stub_app.event_grid if any(e["eventType"] == FILE_EVENT for e in r.body))
    assert post.headers["aeg-event-type"] == "Notification" and isinstance(post.body, list)
    assert event["subject"] == (
        f"/recording/call/{call.correlation_id}/serverCallId/{call.server_call_id}/recordingId/{recording_id}"
    )
    assert set(event) >= {"id", "topic", "subject", "data", "eventType", "eventTime", "metadataVersion", "dataVersion"}
    assert event["topic"].startswith("/subscriptions/") and "/Microsoft.Communication/" in event["topic"]
    data = event["data"]
    assert set(data) == {
        "recordingStorageInfo",
        "recordingStartTime",
        "recordingDurationMs",
        "recordingContentType",
        "recordingChannelType",
        "recordingFormatType",
        "sessionEndReason",
    }
    assert (data["recordingContentType"], data["recordingChannelType"], data["recordingFormatType"]) == (
        "Audio",
        "Mixed",
        "Wav",
    )
    assert data["sessionEndReason"] == "CallEnded"
    (chunk,) = data["recordingStorageInfo"]["recordingChunks"]
    assert set(chunk) == {"documentId", "index", "endReason", "contentLocation", "metadataLocation", "deleteLocation"}
    assert (chunk["index"], chunk["endReason"], chunk["documentId"]) == (0, "SessionEnded", file.document_id)
    assert chunk["contentLocation"].startswith("https://") and chunk["contentLocation"].endswith("/content/audio")
    assert chunk["metadataLocation"].endswith(f"/v1/objects/{file.document_id}/content/acsmetadata")
    assert chunk["deleteLocation"].endswith(f"/v1/objects/{file.document_id}")
    assert await _callback_states(stub_app, call, 2) == ["active", "inactive"]

    # The content, downloaded through the SDK, is a WAV as long as the recorded span.
    status, headers, content = await _download(client, chunk["contentLocation"])
    assert status == 200 and content[:4] == b"RIFF" and content[8:12] == b"WAVE"
    samples, rate = _wav(content)
    assert rate == RATE
    duration = len(samples) / rate
    assert (ended - after) - 0.1 <= duration <= (ended - before) + 0.1
    assert abs(data["recordingDurationMs"] / 1000 - duration) < 0.021

    # It holds the caller where the caller spoke and the app's audio where it was played.
    start = call.recordings[0].started_perf
    utterance = call.timeline.caller_utterances[0]
    assert utterance.onset_at is not None and utterance.offset_at is not None
    caller_spans = _spans(samples, CALLER_HZ, AGENT_HZ)
    assert len(caller_spans) >= 4  # 0.36 s of speech
    assert caller_spans[0][0] >= utterance.onset_at - start - 0.1
    assert caller_spans[-1][1] <= utterance.offset_at + 0.02 - start + 0.1
    (segment,) = call.timeline.agent_segments
    assert segment.ended_at is not None
    agent_spans = _spans(samples, AGENT_HZ, CALLER_HZ)
    assert len(agent_spans) >= 6  # 0.4 s played
    assert agent_spans[0][0] >= segment.started_at - start - 0.1
    assert agent_spans[-1][1] <= segment.ended_at - start + 0.1
    quiet = samples[: int(RATE * 0.4)]  # before anyone spoke
    assert np.abs(quiet).max() == 0


async def test_stopped_recording_downloads_with_range_serves_metadata_and_deletes(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer, client: CallAutomationClient
) -> None:
    call, _ = await _connected(emulator, stub_app, media_peer, client, [Say("hello there"), Silence(5)])
    recording_id, _ = await _start(client, call)
    await asyncio.sleep(0.5)
    await client.stop_recording(recording_id)
    file = await emulator.wait_recording_file(recording_id)
    assert not call.is_over  # stopping the recording leaves the call up
    (event,) = _file_events(stub_app)
    chunk = event["data"]["recordingStorageInfo"]["recordingChunks"][0]

    status, _, whole = await _download(client, chunk["contentLocation"])
    assert status == 200 and whole == file.content
    status, headers, part = await _download(client, chunk["contentLocation"], offset=100, length=50)
    assert status == 206 and part == whole[100:150]
    assert headers["Content-Range"] == f"bytes 100-149/{len(whole)}"

    status, _, raw_metadata = await _download(client, chunk["metadataLocation"])
    metadata = json.loads(raw_metadata)
    assert metadata["chunkDocumentId"] == chunk["documentId"] and metadata["chunkIndex"] == 0
    assert metadata["callId"] == call.correlation_id
    assert metadata["chunkDuration"] == event["data"]["recordingDurationMs"]
    assert metadata["recordingInfo"]["audioConfiguration"]["sampleRate"] == RATE
    assert metadata["pauseResumeIntervals"] == []
    assert {p["participantId"] for p in metadata["participants"]} == {f"4:{CALLER}", f"4:{APP_NUMBER}"}

    await client.delete_recording(chunk["deleteLocation"])
    with pytest.raises(ResourceNotFoundError):
        await _download(client, chunk["contentLocation"])
    with pytest.raises(ResourceNotFoundError):
        await client.delete_recording(chunk["deleteLocation"])

    operations = [(r.operation, r.status) for r in call.requests if r.path.startswith("/v1/objects/")]
    assert operations == [
        ("download_recording", 200),
        ("download_recording", 206),
        ("download_recording_metadata", 200),
        ("delete_recording", 200),
        ("download_recording", 404),
        ("delete_recording", 404),
    ]
    assert all(r.headers["authorization"] == "<redacted>" for r in call.requests if r.path.startswith("/v1/"))
    await call.caller_hang_up()
    await call.finished
    await asyncio.sleep(0.1)
    assert len(_file_events(stub_app)) == 1  # the stopped recording is not published again


async def test_storage_requests_with_a_bad_signature_or_no_signature_get_401(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer, client: CallAutomationClient
) -> None:
    call, _ = await _connected(emulator, stub_app, media_peer, client, [Silence(5)])
    recording_id, _ = await _start(client, call)
    await asyncio.sleep(0.1)
    await client.stop_recording(recording_id)
    file = await emulator.wait_recording_file(recording_id)
    wrong = base64.b64encode(b"not-the-right-key-at-all-000000").decode()

    async with CallAutomationClient(
        emulator.endpoint, AzureKeyCredential(wrong), transport=emulator.storage_transport()
    ) as impostor:
        with pytest.raises(ClientAuthenticationError) as info:
            await _download(impostor, file.content_location)
        assert info.value.status_code == 401
        with pytest.raises(ClientAuthenticationError):
            await impostor.delete_recording(file.delete_location)
    path = f"/v1/objects/{file.document_id}/content/audio"
    host = emulator.endpoint.removeprefix("http://")
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    signature = sign(ACCESS_KEY, f"GET\n{path}\n{date};{host};{content_sha256(b'')}")
    signed = {
        "x-ms-date": date,
        "x-ms-content-sha256": content_sha256(b""),
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }
    async with httpx.AsyncClient(base_url=emulator.endpoint) as http:
        unsigned = await http.get(path)
        no_ms_host = await http.get(path, headers=signed)
        genuine = await http.get(path, headers={**signed, "x-ms-host": "127.0.0.1"})
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "Unauthorized"
    assert no_ms_host.status_code == 401 and "x-ms-host" in no_ms_host.json()["error"]["message"]
    assert genuine.status_code == 200 and genuine.content == file.content
    rejected = [r for r in emulator.requests if r.path.startswith("/v1/objects/") and r.status == 401]
    assert len(rejected) == 4
    assert not file.deleted


async def test_paused_spans_are_left_out_of_the_recording(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer, client: CallAutomationClient
) -> None:
    script = [Silence(0.5), Say("one two three four five six seven eight nine ten"), Silence(5)]
    call, _ = await _connected(emulator, stub_app, media_peer, client, script)
    recording_id, _ = await _start(client, call)
    t_start = time.perf_counter()
    await asyncio.sleep(0.2)
    t_pause = time.perf_counter()
    await client.pause_recording(recording_id)
    while not call.timeline.caller_utterances or call.timeline.caller_utterances[0].ended_at is None:
        await asyncio.sleep(0.02)
    t_resume = time.perf_counter()
    await client.resume_recording(recording_id)
    await asyncio.sleep(0.4)
    t_stop = time.perf_counter()
    await client.stop_recording(recording_id)
    file = await emulator.wait_recording_file(recording_id)

    samples, _ = _wav(file.content)
    recorded = len(samples) / RATE
    active = (t_pause - t_start) + (t_stop - t_resume)
    assert abs(recorded - active) <= 0.1
    assert np.abs(samples).max() == 0  # the caller only spoke while the recording was paused
    (pause,) = file.metadata["pauseResumeIntervals"]
    assert abs(pause["duration"] / 1000 - (t_resume - t_pause)) <= 0.1
    assert await _callback_states(stub_app, call, 4) == ["active", "inactive", "active", "inactive"]
    await call.caller_hang_up()


async def test_recording_without_media_is_silence_as_long_as_the_span(
    emulator: AcsEmulator, stub_app: StubApp, client: CallAutomationClient
) -> None:
    call = await emulator.place_call(caller=CALLER, callee=APP_NUMBER)
    (event,) = await stub_app.wait_incoming(1)
    await client.answer_call(event["data"]["incomingCallContext"], stub_app.callback_url)
    await call.wait_for("connected", timeout=5)
    t0 = time.perf_counter()
    recording_id, state = await _start(client, call, pause_on_start=True)
    assert state == "inactive"
    await client.resume_recording(recording_id)
    await asyncio.sleep(0.3)
    await call.caller_hang_up()
    t1 = time.perf_counter()
    file = await emulator.wait_recording_file(recording_id)
    samples, _ = _wav(file.content)
    assert len(samples) / RATE <= (t1 - t0) + 0.1 and len(samples) / RATE >= 0.3 - 0.1
    assert not samples.any()


async def test_unsupported_recording_options_are_refused_and_ended_recordings_cannot_resume(
    emulator: AcsEmulator, stub_app: StubApp, media_peer: MediaPeer, client: CallAutomationClient
) -> None:
    call, _ = await _connected(emulator, stub_app, media_peer, client, [Silence(5)])
    with pytest.raises(HttpResponseError) as info:
        await client.start_recording(server_call_id=call.server_call_id, recording_format_type="mp3")
    assert info.value.status_code == 400 and "mp3" in str(info.value.message)
    recording_id, _ = await _start(client, call)
    await client.stop_recording(recording_id)
    with pytest.raises(HttpResponseError) as again:
        await client.resume_recording(recording_id)
    assert again.value.status_code == 400
    await client.stop_recording(recording_id)  # stopping twice is harmless
    await emulator.wait_recording_file(recording_id)
    await call.caller_hang_up()
    await call.finished
    assert len(_file_events(stub_app)) == 1

"""The call recording: caller left, agent right, aligned on the media clock, bounded, uploaded as a
stereo WAV to the blob store (a local folder, and Azure Blob against Azurite)."""

from __future__ import annotations

import uuid
from pathlib import Path

from activities.storage import AzureBlobStore, LocalBlobStore, read_wav, recording_blob_name
from realtime.recording import CallRecording, upload_recording
from realtime.session import AcsAudioOut
from tests.storage_emulators import AzuriteEmulator, azurite, node_emulators_bin  # noqa: F401 - fixtures

RATE = 16000
FRAME = 640  # 20 ms at 16 kHz


def tone(value: int, n_bytes: int = FRAME) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (n_bytes // 2)


def channels(wav_pcm: bytes) -> tuple[bytes, bytes]:
    left = b"".join(wav_pcm[i : i + 2] for i in range(0, len(wav_pcm), 4))
    right = b"".join(wav_pcm[i + 2 : i + 4] for i in range(0, len(wav_pcm), 4))
    return left, right


def test_agent_audio_lands_at_the_media_clock_after_silence() -> None:
    recording = CallRecording(sample_rate=RATE, max_seconds=60)
    for _ in range(10):  # 200 ms of caller audio before the agent speaks
        recording.add_caller(tone(100))
    recording.add_agent(tone(200))
    recording.add_agent(tone(200))  # sent ahead of the clock: continues the agent's audio
    recording.add_caller(tone(100))

    left, right = channels(read_wav(recording.wav()).pcm)
    assert len(left) == len(right) == 12 * FRAME
    assert right[: 10 * FRAME] == bytes(10 * FRAME)  # silent until the agent spoke
    assert right[10 * FRAME :] == tone(200, 2 * FRAME)
    assert left[: 11 * FRAME] == tone(100, 11 * FRAME)
    assert recording.duration_seconds == 12 * 0.02


def test_both_tracks_stop_growing_at_the_max_duration() -> None:
    recording = CallRecording(sample_rate=RATE, max_seconds=0.05)  # 800 samples: 2.5 frames
    for _ in range(5):
        recording.add_caller(tone(1))
        recording.add_agent(tone(2))
    assert len(recording.caller) == len(recording.agent) == 1600
    assert recording.duration_seconds == 0.05


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def receive(self) -> str | bytes | None:
        return None

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


async def test_only_agent_audio_actually_sent_is_recorded() -> None:
    recording = CallRecording(sample_rate=RATE, max_seconds=60)
    out = AcsAudioOut(FakeSocket(), recording=recording)
    recording.add_caller(tone(0))
    await out.send_audio(tone(300))
    await out.send_stop()  # barge-in: the rest of the answer is never sent, so never recorded
    recording.add_caller(tone(0))
    recording.add_caller(tone(0))
    assert bytes(recording.agent) == bytes(FRAME) + tone(300)


async def test_upload_writes_a_stereo_wav_and_returns_its_location(tmp_path: Path) -> None:
    recording = CallRecording(sample_rate=RATE, max_seconds=60)
    for _ in range(50):
        recording.add_caller(tone(7))
    recording.add_agent(tone(9))
    async with LocalBlobStore(tmp_path) as store:
        location = await upload_recording(store, "call-abc", recording)
        data = await store.get(recording_blob_name("call-abc"))
    assert location and location == store.location(recording_blob_name("call-abc"))
    assert data is not None
    wav = read_wav(data)
    assert (wav.channels, wav.sample_rate, len(wav.pcm)) == (2, RATE, 51 * FRAME * 2)  # the agent spoke last


async def test_nothing_is_uploaded_for_a_call_without_audio(tmp_path: Path) -> None:
    async with LocalBlobStore(tmp_path) as store:
        assert await upload_recording(store, "call-empty", CallRecording(sample_rate=RATE, max_seconds=60)) == ""
        assert not await store.exists(recording_blob_name("call-empty"))


async def test_upload_to_azure_blob(azurite: AzuriteEmulator) -> None:  # noqa: F811 - fixture
    recording = CallRecording(sample_rate=RATE, max_seconds=60)
    recording.add_caller(tone(5))
    recording.add_agent(tone(6))
    container = f"rec{uuid.uuid4().hex[:12]}"
    async with AzureBlobStore.from_connection_string(azurite.connection_string, container) as store:
        location = await upload_recording(store, "call-azure", recording)
        data = await store.get(recording_blob_name("call-azure"))
    assert location == f"{azurite.blob_endpoint}/{container}/call-azure/recording.wav"
    assert data is not None and read_wav(data).channels == 2

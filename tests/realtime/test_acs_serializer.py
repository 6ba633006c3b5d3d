"""Wire format of the ACS media WebSocket, as Microsoft's audio-streaming quickstart documents it."""

from __future__ import annotations

import base64
import json

import pytest

from realtime.transport.acs import (
    AcsFrameError,
    AcsSerializer,
    AudioData,
    AudioMetadata,
    DtmfData,
    expected_frame_bytes,
)

PCM_16K = bytes(range(256)) * 2 + bytes(128)  # 640 bytes: 20 ms at 16 kHz
PCM_24K = bytes(960)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_frame_sizes_are_20_ms_of_pcm16() -> None:
    assert expected_frame_bytes(16000) == 640
    assert expected_frame_bytes(24000) == 960


def test_parses_documented_audio_metadata_and_adopts_its_rate() -> None:
    serializer = AcsSerializer()
    message = {
        "kind": "AudioMetadata",
        "audioMetadata": {
            "subscriptionId": "89e8cb59-b991-48b0-b154-1db84f16a077",
            "encoding": "PCM",
            "sampleRate": 24000,
            "channels": 1,
            "length": 960,
        },
    }
    parsed = serializer.parse(json.dumps(message))
    assert parsed == AudioMetadata("89e8cb59-b991-48b0-b154-1db84f16a077", "PCM", 24000, 1, 960)
    assert serializer.sample_rate == 24000
    assert serializer.parse(json.dumps({"kind": "AudioData", "audioData": {"data": b64(PCM_24K)}})) == AudioData(
        pcm=PCM_24K
    )


def test_parses_documented_audio_data_with_silent_flag_and_participant() -> None:
    message = {
        "kind": "AudioData",
        "audioData": {
            "timestamp": "2024-11-15T19:16:12.925Z",
            "participantRawID": "8:acs:3d20e1de-0f28-41c5",
            "data": b64(PCM_16K),
            "silent": True,
        },
    }
    parsed = AcsSerializer().parse(json.dumps(message))
    assert parsed == AudioData(
        pcm=PCM_16K, silent=True, timestamp="2024-11-15T19:16:12.925Z", participant_raw_id="8:acs:3d20e1de-0f28-41c5"
    )


@pytest.mark.parametrize(
    "message",
    [
        {"Kind": "AudioData", "AudioData": {"Data": b64(PCM_16K), "Silent": False}},
        {"KIND": "audiodata", "AUDIODATA": {"DATA": b64(PCM_16K)}},
        {"kind": "AudioData", "audioData": {"data": b64(PCM_16K), "isSilent": False, "participantRawId": "x"}},
    ],
)
def test_accepts_any_casing_of_keys_and_kind(message: dict[str, object]) -> None:
    parsed = AcsSerializer().parse(json.dumps(message))
    assert isinstance(parsed, AudioData) and parsed.pcm == PCM_16K and not parsed.silent


def test_parses_dtmf_as_documented_and_with_optional_fields() -> None:
    serializer = AcsSerializer()
    assert serializer.parse('{"kind":"DtmfData","dtmfData":{"data":"3"}}') == DtmfData(tone="3")
    parsed = serializer.parse(
        json.dumps({"kind": "DtmfData", "dtmfData": {"timestamp": "t", "participantRawID": "p", "data": "#"}})
    )
    assert parsed == DtmfData(tone="#", timestamp="t", participant_raw_id="p")


def test_outbound_audio_is_exactly_the_documented_shape() -> None:
    assert json.loads(AcsSerializer.audio(PCM_16K)) == {
        "Kind": "AudioData",
        "AudioData": {"Data": b64(PCM_16K)},
        "StopAudio": None,
    }


def test_outbound_stop_audio_is_exactly_the_documented_shape() -> None:
    assert json.loads(AcsSerializer.stop_audio()) == {"Kind": "StopAudio", "AudioData": None, "StopAudio": {}}


@pytest.mark.parametrize("rate", [16000, 24000])
def test_outbound_audio_round_trips_through_the_inbound_parser(rate: int) -> None:
    pcm = bytes((i * 7) % 256 for i in range(expected_frame_bytes(rate)))
    parsed = AcsSerializer(sample_rate=rate).parse(AcsSerializer.audio(pcm))
    assert parsed == AudioData(pcm=pcm)


BROKEN = {
    "not json": "hello",
    "json array": "[1, 2]",
    "no kind": '{"audioData": {"data": ""}}',
    "unknown kind": '{"kind": "VideoData", "videoData": {}}',
    "bad base64": '{"kind": "AudioData", "audioData": {"data": "@@@not-base64@@@"}}',
    "odd length": json.dumps({"kind": "AudioData", "audioData": {"data": b64(bytes(639))}}),
    "wrong size": json.dumps({"kind": "AudioData", "audioData": {"data": b64(bytes(1000))}}),
    "data not a string": '{"kind": "AudioData", "audioData": {"data": 5}}',
    "section missing": '{"kind": "AudioData"}',
    "metadata bad rate": '{"kind":"AudioMetadata","audioMetadata":{"encoding":"PCM","sampleRate":8000}}',
    "metadata not pcm": '{"kind":"AudioMetadata","audioMetadata":{"encoding":"opus","sampleRate":16000}}',
    "metadata stereo": '{"kind":"AudioMetadata","audioMetadata":{"encoding":"PCM","sampleRate":16000,"channels":2}}',
    "dtmf not a key": '{"kind":"DtmfData","dtmfData":{"data":"X"}}',
}


@pytest.mark.parametrize("raw", BROKEN.values(), ids=BROKEN.keys())
def test_broken_text_frames_raise_the_typed_error(raw: str) -> None:
    with pytest.raises(AcsFrameError):
        AcsSerializer().parse(raw)


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00garbage", b"\x00" * 640, b'{"kind":'])
def test_binary_garbage_raises_the_typed_error(raw: bytes) -> None:
    with pytest.raises(AcsFrameError):
        AcsSerializer().parse(raw)


def test_a_broken_frame_leaves_the_serializer_usable() -> None:
    serializer = AcsSerializer()
    with pytest.raises(AcsFrameError):
        serializer.parse("{")
    message = json.dumps({"kind": "AudioData", "audioData": {"data": b64(PCM_16K)}})
    assert isinstance(serializer.parse(message), AudioData)

"""The ACS media WebSocket carrier: parse what ACS sends, serialize what we send.

Inbound, as documented in ACS's audio-streaming quickstart (text frames, JSON):

    {"kind": "AudioMetadata", "audioMetadata": {"subscriptionId": "...", "encoding": "PCM",
                                                "sampleRate": 16000, "channels": 1, "length": 640}}
    {"kind": "AudioData", "audioData": {"timestamp": "2024-11-15T19:16:12.925Z",
                                        "participantRawID": "8:acs:...", "data": "<base64>",
                                        "silent": false}}
    {"kind": "DtmfData", "dtmfData": {"data": "3"}}    (timestamp/participantRawID optional)

Key names are matched case-insensitively (`kind`/`Kind`, `audioData`/`AudioData`,
`participantRawID`/`participantRawId`; Microsoft's SDKs differ), and `isSilent` is taken for
`silent`. Audio is PCM16LE mono at 16 or 24 kHz, 20 ms per frame: 640 or 960 bytes.

Outbound (bidirectional streaming), the shape of ACS's Python sample:

    {"Kind": "AudioData", "AudioData": {"Data": "<base64>"}, "StopAudio": null}
    {"Kind": "StopAudio", "AudioData": null, "StopAudio": {}}

Anything malformed raises `AcsFrameError` (a `ValueError`); the session counts it, drops the
frame and the call goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUPPORTED_RATES = (16000, 24000)
DTMF_TONES = frozenset("0123456789*#ABCD")
FRAME_MS = 20


class AcsFrameError(ValueError):
    """An inbound message that is not a well-formed ACS media frame."""


@dataclass(frozen=True)
class AudioMetadata:
    subscription_id: str
    encoding: str
    sample_rate: int
    channels: int
    length: int


@dataclass(frozen=True)
class AudioData:
    pcm: bytes
    silent: bool = False
    timestamp: str = ""
    participant_raw_id: str = ""


@dataclass(frozen=True)
class DtmfData:
    tone: str
    timestamp: str = ""
    participant_raw_id: str = ""


AcsInbound = AudioMetadata | AudioData | DtmfData


def expected_frame_bytes(sample_rate: int) -> int:
    return sample_rate * FRAME_MS // 1000 * 2


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in obj.items()}


def _section(message: Mapping[str, Any], name: str) -> dict[str, Any]:
    body = message.get(name.lower())
    if not isinstance(body, Mapping):
        raise AcsFrameError(f"{name} frame without a {name} object")
    return _lower_keys(body)


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key, "")
    return value if isinstance(value, str) else str(value)


class AcsSerializer:
    """Stateful per call: `AudioMetadata` sets the sample rate and frame size audio must match."""

    def __init__(self, *, sample_rate: int = 16000) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise ValueError(f"ACS streams 16 or 24 kHz PCM, not {sample_rate}")
        self.sample_rate = sample_rate
        self.frame_bytes = expected_frame_bytes(sample_rate)
        self.metadata: AudioMetadata | None = None

    # ------------------------------------------------------------ inbound

    def parse(self, raw: str | bytes) -> AcsInbound:
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise AcsFrameError("binary frame is not UTF-8 JSON") from exc
        try:
            message = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise AcsFrameError("frame is not JSON") from exc
        if not isinstance(message, Mapping):
            raise AcsFrameError("frame is not a JSON object")
        message = _lower_keys(message)
        kind = message.get("kind")
        if not isinstance(kind, str):
            raise AcsFrameError("frame has no kind")
        match kind.lower():
            case "audiodata":
                return self._audio(_section(message, "audioData"))
            case "audiometadata":
                return self._metadata(_section(message, "audioMetadata"))
            case "dtmfdata":
                return self._dtmf(_section(message, "dtmfData"))
        raise AcsFrameError(f"unknown frame kind {kind[:40]!r}")

    def _audio(self, body: Mapping[str, Any]) -> AudioData:
        data = body.get("data")
        if not isinstance(data, str):
            raise AcsFrameError("AudioData without base64 data")
        try:
            pcm = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AcsFrameError("AudioData data is not valid base64") from exc
        if len(pcm) % 2:
            raise AcsFrameError(f"AudioData has an odd length ({len(pcm)} bytes) for PCM16")
        if len(pcm) not in (self.frame_bytes, expected_frame_bytes(self.sample_rate)):
            raise AcsFrameError(
                f"AudioData has {len(pcm)} bytes; a frame at {self.sample_rate} Hz has {self.frame_bytes}"
            )
        silent = body.get("silent", body.get("issilent", False))
        return AudioData(
            pcm=pcm,
            silent=silent is True,
            timestamp=_text(body, "timestamp"),
            participant_raw_id=_text(body, "participantrawid"),
        )

    def _metadata(self, body: Mapping[str, Any]) -> AudioMetadata:
        rate = body.get("samplerate")
        if rate not in SUPPORTED_RATES or isinstance(rate, bool):
            raise AcsFrameError(f"AudioMetadata sample rate {rate!r} is not 16000 or 24000")
        encoding = _text(body, "encoding")
        if encoding.lower() != "pcm":
            raise AcsFrameError(f"AudioMetadata encoding {encoding[:20]!r} is not PCM")
        channels = body.get("channels", 1)
        if channels not in (1, "mono", "Mono"):
            raise AcsFrameError(f"AudioMetadata channels {channels!r}: only mono is supported")
        length = body.get("length", expected_frame_bytes(rate))
        if not isinstance(length, int) or isinstance(length, bool) or length <= 0 or length % 2:
            raise AcsFrameError(f"AudioMetadata length {length!r} is not a PCM16 frame size")
        metadata = AudioMetadata(
            subscription_id=_text(body, "subscriptionid"),
            encoding=encoding,
            sample_rate=rate,
            channels=1,
            length=length,
        )
        self.metadata = metadata
        self.sample_rate = rate
        self.frame_bytes = length
        return metadata

    def _dtmf(self, body: Mapping[str, Any]) -> DtmfData:
        tone = body.get("data")
        if not isinstance(tone, str) or tone.upper() not in DTMF_TONES:
            raise AcsFrameError(f"DtmfData tone {str(tone)[:10]!r} is not a DTMF key")
        return DtmfData(
            tone=tone.upper(), timestamp=_text(body, "timestamp"), participant_raw_id=_text(body, "participantrawid")
        )

    # ------------------------------------------------------------ outbound

    @staticmethod
    def audio(pcm: bytes) -> str:
        if len(pcm) % 2:
            raise ValueError("outbound audio must be whole PCM16 samples")
        payload = base64.b64encode(pcm).decode("ascii")
        return json.dumps({"Kind": "AudioData", "AudioData": {"Data": payload}, "StopAudio": None})

    @staticmethod
    def stop_audio() -> str:
        return STOP_AUDIO


STOP_AUDIO = json.dumps({"Kind": "StopAudio", "AudioData": None, "StopAudio": {}})

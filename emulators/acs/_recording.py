"""Server-side call recording: what the emulator captures while a recording is active, the file ACS
would publish when it ends, and the wire shapes around it.

Capture model (a mixed audio recording, as ACS makes one):
- On every 20 ms media tick the caller's frame (what the caller script says, silence included) and the
  agent frame the playout model played at that tick (nothing after StopAudio dropped it) are added
  sample by sample (clipped to PCM16) and appended to every active recording of the call. Both come
  from the same tick, so they share one timeline.
- Ticks are placed by their scheduled time: wall time during which no media was flowing inside an
  active span (media not open yet, or closed while the call went on) becomes silence; a paused span
  adds nothing. The content is therefore as long as the active (not paused) time, within a frame.
- When the recording ends (stop, or the call ends) the PCM becomes a WAV (RIFF, PCM16 mono, the call's
  sample rate) with an ACS-style metadata document, served under the recording storage URLs.

Recording storage URLs use an ``https://…asm.skype.com`` host because azure-communication-callautomation
1.6 refuses to download from or delete at any other host (`recording_url_validator`). The emulator
serves the same paths on its own port; `StorageRedirectTransport` sends the SDK's requests there.
"""

from __future__ import annotations

import io
import time
import uuid
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from azure.core.pipeline.transport import AioHttpTransport, AsyncHttpTransport

from . import _wire
from ._media import FRAME_SECONDS

if TYPE_CHECKING:
    from ._call import SimulatedCall
    from ._delivery import Delivery

DEFAULT_STORAGE_URL = "https://emulator-storage.asm.skype.com"
RECORDING_FILE_EVENT = "Microsoft.Communication.RecordingFileStatusUpdated"

# What the emulator can record, as the start request names it (None = not specified).
SUPPORTED_CONTENT = {None, "audio"}
SUPPORTED_CHANNEL = {None, "mixed"}
SUPPORTED_FORMAT = {None, "wav"}


def mix_pcm16(caller: bytes, agent: bytes | None) -> bytes:
    """Two PCM16LE mono frames added sample by sample, clipped; `agent` None means silence."""
    if agent is None:
        return caller
    a = np.frombuffer(caller, dtype="<i2").astype(np.int32)
    b = np.frombuffer(agent, dtype="<i2").astype(np.int32)
    if len(b) != len(a):
        b = np.resize(b, len(a)) if len(b) else np.zeros_like(a)
    return np.clip(a + b, -32768, 32767).astype("<i2").tobytes()


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """RIFF/WAVE, PCM16 mono."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


@dataclass
class Recording:
    """One recording session the app started (POST /calling/recordings) and what it captured."""

    recording_id: str
    call: SimulatedCall
    kind: str
    state: str = "active"  # "active" or "inactive" (paused or ended), as ACS reports it
    callback_uri: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    sample_rate: int = 16000
    pcm: bytearray = field(default_factory=bytearray, repr=False)
    started_perf: float = field(default_factory=time.perf_counter)
    # Paused spans as (perf_counter start, end or None while paused).
    pauses: list[tuple[float, float | None]] = field(default_factory=list)
    ended_at: float | None = None
    end_reason: str | None = None
    file: RecordingFile | None = None
    _span_start: float | None = None  # start of the current active span; None while paused/ended
    _last_due: float | None = None  # scheduled time of the last tick captured in this span

    def __post_init__(self) -> None:
        if self.state == "active":
            self._span_start = self.started_perf
        else:  # pauseOnStart
            self.pauses.append((self.started_perf, None))

    @property
    def active(self) -> bool:
        return self._span_start is not None and self.ended_at is None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def frame_bytes(self) -> int:
        return int(self.sample_rate * FRAME_SECONDS) * 2

    @property
    def duration_ms(self) -> int:
        return round(len(self.pcm) / 2 / self.sample_rate * 1000)

    def capture(self, due: float, frame: bytes) -> None:
        """Append one mixed media frame scheduled at `due` (perf_counter); silence fills a gap first."""
        if self._span_start is None or self.ended_at is not None:
            return
        if self._last_due is None:
            gap = due - self._span_start
            missing = int(gap / FRAME_SECONDS) if gap > 1.5 * FRAME_SECONDS else 0
        else:
            gap = due - self._last_due - FRAME_SECONDS
            missing = round(gap / FRAME_SECONDS) if gap > 0.5 * FRAME_SECONDS else 0
        if missing > 0:
            self.pcm.extend(bytes(missing * len(frame)))
        self.pcm.extend(frame)
        self._last_due = due

    def _close_span(self, at: float) -> None:
        if self._span_start is None:
            return
        tail = at - (self._span_start if self._last_due is None else self._last_due + FRAME_SECONDS)
        if tail > 1.5 * FRAME_SECONDS:
            self.pcm.extend(bytes(int(tail / FRAME_SECONDS) * self.frame_bytes))
        self._span_start = None
        self._last_due = None

    def pause(self, at: float) -> None:
        self.state = "inactive"
        if self._span_start is not None and self.ended_at is None:
            self._close_span(at)
            self.pauses.append((at, None))

    def resume(self, at: float) -> None:
        self.state = "active"
        if self._span_start is None and self.ended_at is None:
            if self.pauses and self.pauses[-1][1] is None:
                self.pauses[-1] = (self.pauses[-1][0], at)
            self._span_start = at

    def end(self, at: float, reason: str) -> None:
        if self.ended_at is not None:
            return
        self._close_span(at)
        if self.pauses and self.pauses[-1][1] is None:
            self.pauses[-1] = (self.pauses[-1][0], at)
        self.state = "inactive"
        self.ended_at = at
        self.end_reason = reason

    def wall(self, t: float) -> datetime:
        return self.started_at + timedelta(seconds=t - self.started_perf)


@dataclass
class RecordingFile:
    """The single chunk an ended recording produced, as the storage endpoints serve it."""

    document_id: str
    recording_id: str
    correlation_id: str
    server_call_id: str
    call_connection_id: str | None
    sample_rate: int
    duration_ms: int
    content: bytes = field(repr=False)  # the WAV file
    metadata: dict[str, Any] = field(repr=False)
    event: dict[str, Any] = field(repr=False)  # the Event Grid event (RecordingFileStatusUpdated)
    content_location: str = ""
    metadata_location: str = ""
    delete_location: str = ""
    deleted: bool = False
    delivery: Delivery | None = None
    delivery_done: bool = False  # delivered, given up, or no webhook to deliver to

    @property
    def pcm(self) -> bytes:
        """The recorded audio (PCM16LE mono at `sample_rate`)."""
        with wave.open(io.BytesIO(self.content), "rb") as wav:
            return wav.readframes(wav.getnframes())


def new_document_id() -> str:
    # Real ones look like 0-eus-d12-801b3f3fc462fe8a01e6810cbff729b8.
    return f"0-emu-d0-{uuid.uuid4().hex}"


def build_recording_file(
    recording: Recording,
    *,
    storage_url: str,
    topic: str,
    resource_id: str,
    session_end_reason: str,
) -> RecordingFile:
    call = recording.call
    document_id = new_document_id()
    base = f"{storage_url.rstrip('/')}/v1/objects/{document_id}"
    content_location = f"{base}/content/audio"
    metadata_location = f"{base}/content/acsmetadata"
    delete_location = base
    duration_ms = recording.duration_ms
    start = _wire.iso_z(recording.started_at)
    metadata = {
        "resourceId": resource_id,
        "callId": call.correlation_id,
        "chunkDocumentId": document_id,
        "chunkIndex": 0,
        "chunkStartTime": start,
        "chunkDuration": duration_ms,
        "pauseResumeIntervals": [
            {"startTime": _wire.iso_z(recording.wall(begin)), "duration": round(((end or begin) - begin) * 1000)}
            for begin, end in recording.pauses
        ],
        "recordingInfo": {
            "contentType": "audio",
            "channelType": "mixed",
            "format": "wav",
            "audioConfiguration": {
                "sampleRate": recording.sample_rate,
                "bitRate": recording.sample_rate * 16,
                "channels": 1,
            },
        },
        "participants": [{"participantId": _wire.raw_id(call.caller)}, {"participantId": _wire.raw_id(call.callee)}],
    }
    data = {
        "recordingStorageInfo": {
            "recordingChunks": [
                {
                    "documentId": document_id,
                    "index": 0,
                    "endReason": "SessionEnded",
                    "contentLocation": content_location,
                    "metadataLocation": metadata_location,
                    "deleteLocation": delete_location,
                }
            ]
        },
        "recordingStartTime": start,
        "recordingDurationMs": duration_ms,
        "recordingContentType": "Audio",
        "recordingChannelType": "Mixed",
        "recordingFormatType": "Wav",
        "sessionEndReason": session_end_reason,
    }
    subject = (
        f"/recording/call/{call.correlation_id}/serverCallId/{call.server_call_id}/recordingId/{recording.recording_id}"
    )
    return RecordingFile(
        document_id=document_id,
        recording_id=recording.recording_id,
        correlation_id=call.correlation_id,
        server_call_id=call.server_call_id,
        call_connection_id=call.call_connection_id,
        sample_rate=recording.sample_rate,
        duration_ms=duration_ms,
        content=wav_bytes(bytes(recording.pcm), recording.sample_rate),
        metadata=metadata,
        event=_wire.event_grid_event(RECORDING_FILE_EVENT, topic=topic, subject=subject, data=data),
        content_location=content_location,
        metadata_location=metadata_location,
        delete_location=delete_location,
    )


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` header asks for.

    None when there is no (usable) Range header: serve everything. Raises ValueError when the range
    cannot be satisfied (416)."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multi-range requests are ignored (allowed by RFC 9110)
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if not first:
            count = int(last)
            if count <= 0:
                raise ValueError("empty suffix range")
            return max(0, size - count), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError as exc:
        raise ValueError(f"invalid range {header!r}") from exc
    if start >= size or end < start:
        raise ValueError(f"range {header!r} not satisfiable for {size} bytes")
    return start, min(end, size - 1)


class StorageRedirectTransport(AsyncHttpTransport):
    """An azure-core async transport that sends requests for the emulator's recording storage host
    (``https://emulator-storage.asm.skype.com/...``) to the emulator itself, and everything else to
    the wrapped transport unchanged. The SDK signs before the transport runs, so signatures are
    untouched. For tests and local runs only::

        client = CallAutomationClient(emu.endpoint, AzureKeyCredential(key),
                                      transport=emu.storage_transport())
    """

    def __init__(
        self,
        *,
        storage_url: str,
        target: str,
        inner: AsyncHttpTransport | None = None,
    ) -> None:
        self._storage = urlsplit(storage_url)
        self._target = urlsplit(target)
        self._inner = inner or AioHttpTransport()

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc.lower()) != (self._storage.scheme, self._storage.netloc.lower()):
            return url
        return urlunsplit((self._target.scheme, self._target.netloc, parts.path, parts.query, parts.fragment))

    async def send(self, request: Any, **kwargs: Any) -> Any:
        original = request.url
        request.url = self.rewrite(original)
        try:
            return await self._inner.send(request, **kwargs)
        finally:
            request.url = original

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> StorageRedirectTransport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self._inner.__aexit__(*args)

    async def sleep(self, duration: float) -> None:
        await self._inner.sleep(duration)


def unsupported_options(body: Mapping[str, Any]) -> str | None:
    """Why the emulator cannot make the recording a start request asks for, or None."""
    wanted = {
        "recordingContentType": (body.get("recordingContentType"), SUPPORTED_CONTENT),
        "recordingChannelType": (body.get("recordingChannelType"), SUPPORTED_CHANNEL),
        "recordingFormatType": (body.get("recordingFormatType"), SUPPORTED_FORMAT),
    }
    for name, (value, supported) in wanted.items():
        key = value.lower() if isinstance(value, str) else value
        if key not in supported:
            return f"The emulator records audio, mixed, wav only; {name}={value!r} is not supported."
    if body.get("externalStorage"):
        return "The emulator does not support externalStorage (bring your own storage)."
    return None

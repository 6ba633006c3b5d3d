"""The call's recording: caller audio on the left, agent audio (as actually sent) on the right.

The per-frame path only appends bytes to two per-call buffers. The caller track is the media
clock: ACS sends a 20 ms frame every 20 ms (silent ones too), so its length is where the call is
now. Agent audio goes onto its track at the clock (padded with silence when the agent was quiet),
so both tracks stay time-aligned; audio the pacer never sent (cut by a barge-in) never gets here.
Both tracks stop growing at `max_seconds`.

After the socket closes, `upload_recording` interleaves the tracks into a stereo WAV (in a thread,
off the event loop) and puts it in the blob store under `recording_blob_name(workflow_id)`.
"""

from __future__ import annotations

import asyncio
import logging

from activities.storage import BlobStore, interleave_stereo, pcm16_wav, recording_blob_name

logger = logging.getLogger(__name__)

_SILENCE = bytes(9600)  # 200 ms at 24 kHz: padding is appended from this, never allocated per frame


class CallRecording:
    """Two PCM16 mono tracks at the carrier's rate, bounded by `max_seconds`."""

    def __init__(self, *, sample_rate: int, max_seconds: float) -> None:
        self.sample_rate = sample_rate
        self.max_bytes = int(max_seconds * sample_rate) * 2
        self.caller = bytearray()
        self.agent = bytearray()

    def add_caller(self, pcm: bytes) -> None:
        room = self.max_bytes - len(self.caller)
        if room <= 0:
            return
        if len(pcm) <= room:
            self.caller += pcm
        else:
            self.caller += memoryview(pcm)[: room & ~1]

    def add_agent(self, pcm: bytes) -> None:
        behind = len(self.caller) - len(self.agent)
        while behind > 0:  # the agent was quiet until now: silence up to the media clock
            step = min(behind, len(_SILENCE))
            self.agent += memoryview(_SILENCE)[:step]
            behind -= step
        room = self.max_bytes - len(self.agent)
        if room <= 0:
            return
        if len(pcm) <= room:
            self.agent += pcm
        else:
            self.agent += memoryview(pcm)[: room & ~1]

    @property
    def empty(self) -> bool:
        return not self.caller and not self.agent

    @property
    def duration_seconds(self) -> float:
        return max(len(self.caller), len(self.agent)) / (2 * self.sample_rate)

    def wav(self) -> bytes:
        """The stereo WAV (caller left, agent right); the shorter track is padded with silence."""
        return pcm16_wav(
            interleave_stereo(bytes(self.caller), bytes(self.agent)), sample_rate=self.sample_rate, channels=2
        )


async def upload_recording(
    store: BlobStore, workflow_id: str, recording: CallRecording, *, within_seconds: float = 30.0
) -> str:
    """Upload the call's WAV; returns its location (`BlobLocation.uri`), or "" when there was no
    audio or the upload failed (logged: the call's record is archived without a recording)."""
    if recording.empty:
        return ""
    try:
        data = await asyncio.to_thread(recording.wav)
        stored = await asyncio.wait_for(store.put(recording_blob_name(workflow_id), data, "audio/wav"), within_seconds)
    except Exception:
        logger.exception("recording of %s not uploaded", workflow_id)
        return ""
    return stored.uri

"""The media side of a simulated call: ACS's WebSocket client, the caller's microphone and a model of
ACS playout, with a timeline of what was sent and heard.

Times are `time.perf_counter()` seconds (monotonic, comparable with the app's clock in the same
process); `CallTimeline.wall(t)` converts one to a wall-clock datetime.

Playout model (what the caller hears):
- Every `AudioData` the app sends is appended to a playout buffer. A clock plays one 20 ms frame per
  20 ms of wall time from it (1x). A short tail (< 20 ms) waits one tick for more data, then plays
  padded with zeros.
- `StopAudio` drops everything buffered and not yet played, and ends the current agent segment
  (marked interrupted).
- An agent *segment* is a run of played frames. An empty tick inside a segment is an *underrun* (a late
  frame): the gap is counted when audio resumes within `underrun_gap_ms`; a longer gap ends the segment
  at its last played frame and is not counted.
- *Frames after stop*: for each `StopAudio` at time s, the `AudioData` messages received in
  [s, w), where w = max(s + stop_window_ms, end of the caller utterance in progress at s, if any).
  That is the old answer leaking past the stop; a reply the app starts after the caller finished the
  barge-in utterance (and after the window) is a new answer and is not counted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from ._wire import iso_z

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.020

# Called once per media tick with (scheduled perf_counter time of the tick, caller frame, agent frame
# played at that tick or None). The call's recorder listens here.
TickListener = Callable[[float, bytes, bytes | None], None]


@dataclass
class Mark:
    at: float
    name: str
    detail: str = ""


@dataclass
class CallerUtterance:
    """One `Say` / `PlayWav` step as the app received it. Times are when the carrying frame was sent;
    onset/offset are the first/last frame with any non-zero sample (None if all silent)."""

    step_index: int
    kind: str
    text: str
    queued_at: float
    started_at: float | None = None
    onset_at: float | None = None
    offset_at: float | None = None
    ended_at: float | None = None
    frames: int = 0


@dataclass
class AgentSegment:
    """A run of agent audio the caller heard. `ended_at` is the end of its last played frame (or the
    StopAudio time if that came first)."""

    started_at: float
    ended_at: float | None = None
    frames: int = 0
    underruns: int = 0
    interrupted: bool = False
    pcm: bytearray = field(default_factory=bytearray, repr=False)

    @property
    def duration(self) -> float:
        return self.frames * FRAME_SECONDS


@dataclass
class StopAudioRecord:
    received_at: float
    dropped_bytes: int
    window_ends_at: float
    frames_after: int = 0
    bytes_after: int = 0


@dataclass
class CallTimeline:
    """Everything the media side observed for one call (see module docs for the definitions)."""

    created_at: float
    created_wall: datetime
    sample_rate: int = 16000
    media_opened_at: float | None = None
    media_closed_at: float | None = None
    caller_frames_sent: int = 0
    caller_silent_frames: int = 0
    caller_frame_times: list[float] = field(default_factory=list, repr=False)
    sender_max_lag_ms: float = 0.0
    caller_utterances: list[CallerUtterance] = field(default_factory=list)
    dtmf_sent: list[tuple[float, str]] = field(default_factory=list)
    agent_message_times: list[float] = field(default_factory=list, repr=False)
    agent_bytes_received: int = 0
    played_frame_times: list[float] = field(default_factory=list, repr=False)
    agent_segments: list[AgentSegment] = field(default_factory=list)
    stops: list[StopAudioRecord] = field(default_factory=list)
    underrun_times: list[float] = field(default_factory=list, repr=False)
    malformed_messages: int = 0
    script_timeouts: list[str] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def frame_bytes(self) -> int:
        return int(self.sample_rate * FRAME_SECONDS) * 2

    @property
    def late_frames(self) -> int:
        return len(self.underrun_times)

    @property
    def stop_audio_times(self) -> list[float]:
        return [s.received_at for s in self.stops]

    @property
    def frames_after_stop(self) -> int:
        return sum(s.frames_after for s in self.stops)

    def wall(self, t: float) -> datetime:
        return self.created_wall + timedelta(seconds=t - self.created_at)

    def mark(self, name: str, detail: str = "") -> None:
        self.marks.append(Mark(time.perf_counter(), name, detail))

    def first_played_after(self, t: float) -> float | None:
        """Play time of the first agent frame at or after `t`."""
        for played in self.played_frame_times:
            if played >= t:
                return played
        return None

    def heard_pcm(self) -> bytes:
        """The agent audio the caller heard, segments back to back (silence between them left out)."""
        return b"".join(bytes(s.pcm) for s in self.agent_segments)


def _key(message: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive lookup: Kind/kind, AudioData/audioData, Data/data."""
    if name in message:
        return message[name]
    lowered = name.lower()
    for key, value in message.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


class Playout:
    """ACS's playout buffer for audio the app sends (see module docs)."""

    def __init__(
        self,
        timeline: CallTimeline,
        *,
        keep_audio: bool = True,
        underrun_gap_ms: int = 300,
        stop_window_ms: int = 300,
    ) -> None:
        self._timeline = timeline
        self._keep_audio = keep_audio
        self._gap_ticks = max(1, round(underrun_gap_ms / 20))
        self._stop_window = stop_window_ms / 1000
        self._buffer = bytearray()
        self._tail_waited = False
        self._segment: AgentSegment | None = None
        self._gap: list[float] = []
        self.last_played_at: float | None = None
        self.caller_speech_until: float | None = None  # set by the mic while an utterance is in flight

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    @property
    def current_segment(self) -> AgentSegment | None:
        return self._segment

    def receive(self, pcm: bytes, at: float) -> None:
        tl = self._timeline
        tl.agent_message_times.append(at)
        tl.agent_bytes_received += len(pcm)
        if tl.stops and tl.stops[-1].received_at <= at < tl.stops[-1].window_ends_at:
            tl.stops[-1].frames_after += 1
            tl.stops[-1].bytes_after += len(pcm)
        self._buffer.extend(pcm)

    def stop(self, at: float) -> None:
        dropped = len(self._buffer)
        self._buffer.clear()
        self._tail_waited = False
        window_end = at + self._stop_window
        if self.caller_speech_until is not None:
            window_end = max(window_end, self.caller_speech_until)
        self._timeline.stops.append(StopAudioRecord(at, dropped, window_end))
        if self._segment is not None:
            last_end = (self.last_played_at or at) + FRAME_SECONDS
            self._close_segment(min(at, last_end), interrupted=True)

    def tick(self, at: float) -> bytes | None:
        """Play one frame's worth at `at`; returns the frame played (None when nothing was)."""
        frame_bytes = self._timeline.frame_bytes
        if len(self._buffer) >= frame_bytes:
            frame = bytes(self._buffer[:frame_bytes])
            del self._buffer[:frame_bytes]
            self._tail_waited = False
        elif self._buffer and self._tail_waited:
            frame = bytes(self._buffer) + bytes(frame_bytes - len(self._buffer))
            self._buffer.clear()
            self._tail_waited = False
        else:
            if self._buffer:
                self._tail_waited = True
            self._idle(at)
            return None
        self._play(frame, at)
        return frame

    def _play(self, frame: bytes, at: float) -> None:
        tl = self._timeline
        if self._segment is None:
            self._segment = AgentSegment(started_at=at)
            tl.agent_segments.append(self._segment)
        elif self._gap:
            self._segment.underruns += len(self._gap)
            tl.underrun_times.extend(self._gap)
            if self._keep_audio:
                self._segment.pcm.extend(bytes(len(frame) * len(self._gap)))
        self._gap.clear()
        self._segment.frames += 1
        if self._keep_audio:
            self._segment.pcm.extend(frame)
        tl.played_frame_times.append(at)
        self.last_played_at = at

    def _idle(self, at: float) -> None:
        if self._segment is None:
            return
        self._gap.append(at)
        if len(self._gap) >= self._gap_ticks:
            self._close_segment((self.last_played_at or at) + FRAME_SECONDS, interrupted=False)

    def _close_segment(self, ended_at: float, *, interrupted: bool) -> None:
        if self._segment is not None:
            self._segment.ended_at = ended_at
            self._segment.interrupted = interrupted
        self._segment = None
        self._gap.clear()

    def finish(self, at: float) -> None:
        if self._segment is not None:
            self._close_segment(min(at, (self.last_played_at or at) + FRAME_SECONDS), interrupted=False)


class CallerMic:
    """Queued caller audio; the media clock takes one frame per tick (silence when nothing is queued)."""

    def __init__(self, timeline: CallTimeline, playout: Playout) -> None:
        self._timeline = timeline
        self._playout = playout
        self._queue: deque[tuple[CallerUtterance, bytes, asyncio.Future[None]]] = deque()
        self._pos = 0

    def enqueue(self, utterance: CallerUtterance, pcm: bytes) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._timeline.caller_utterances.append(utterance)
        self._queue.append((utterance, pcm, done))
        return done

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def next_frame(self, at: float) -> bytes:
        frame_bytes = self._timeline.frame_bytes
        if not self._queue:
            return bytes(frame_bytes)
        utterance, pcm, done = self._queue[0]
        if utterance.started_at is None:
            utterance.started_at = at
        chunk = pcm[self._pos : self._pos + frame_bytes]
        self._pos += frame_bytes
        if len(chunk) < frame_bytes:
            chunk = chunk + bytes(frame_bytes - len(chunk))
        utterance.frames += 1
        if any(chunk):
            if utterance.onset_at is None:
                utterance.onset_at = at
            utterance.offset_at = at
        # A StopAudio during this utterance keeps its "frames after stop" window open until it ends.
        remaining = max(0, len(pcm) - self._pos) / (frame_bytes / FRAME_SECONDS)
        self._playout.caller_speech_until = at + remaining + FRAME_SECONDS
        if self._pos >= len(pcm):
            utterance.ended_at = at
            self._queue.popleft()
            self._pos = 0
            self._playout.caller_speech_until = None
            if not done.done():
                done.set_result(None)
        return chunk

    def cancel(self) -> None:
        for _, _, done in self._queue:
            if not done.done():
                done.cancel()
        self._queue.clear()


class MediaSession:
    """ACS's side of one media WebSocket: connect, send AudioMetadata, then one AudioData per 20 ms
    from the caller's mic while playing what the app sends."""

    def __init__(
        self,
        *,
        url: str,
        timeline: CallTimeline,
        subscription_id: str,
        participant_raw_id: str,
        keep_audio: bool = True,
        underrun_gap_ms: int = 300,
        stop_window_ms: int = 300,
        connect_timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        on_tick: TickListener | None = None,
    ) -> None:
        self.url = url
        self.timeline = timeline
        self.subscription_id = subscription_id
        self.participant_raw_id = participant_raw_id
        self.playout = Playout(
            timeline, keep_audio=keep_audio, underrun_gap_ms=underrun_gap_ms, stop_window_ms=stop_window_ms
        )
        self.mic = CallerMic(timeline, self.playout)
        self.opened = asyncio.Event()
        self._connect_timeout = connect_timeout
        self._headers = dict(headers or {})
        self._ws: ClientConnection | None = None
        self._on_tick = on_tick
        self._closing = False
        self.close_reason: str | None = None

    async def run(self) -> None:
        """Connect and stream until either side closes. Raises OSError/InvalidURI/... if the connect fails."""
        tl = self.timeline
        ws = await websockets.connect(
            self.url,
            open_timeout=self._connect_timeout,
            additional_headers=self._headers or None,
            max_size=None,
            ping_interval=None,
            compression=None,
        )
        self._ws = ws
        try:
            await ws.send(
                json.dumps(
                    {
                        "kind": "AudioMetadata",
                        "audioMetadata": {
                            "subscriptionId": self.subscription_id,
                            "encoding": "PCM",
                            "sampleRate": tl.sample_rate,
                            "channels": 1,
                            "length": tl.frame_bytes,
                        },
                    }
                )
            )
            tl.media_opened_at = time.perf_counter()
            self.opened.set()
            receiver = asyncio.create_task(self._receive(ws), name="acs-emulator-media-recv")
            try:
                await self._clock(ws)
            finally:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver
        finally:
            now = time.perf_counter()
            self.playout.finish(now)
            tl.media_closed_at = now
            self.mic.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=2.0)

    async def close(self, reason: str = "closed") -> None:
        """Close the socket (the clock loop then ends)."""
        self._closing = True
        self.close_reason = self.close_reason or reason
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), timeout=2.0)

    async def send_dtmf(self, tone: str) -> None:
        if self._ws is None:
            return
        self.timeline.dtmf_sent.append((time.perf_counter(), tone))
        message = {
            "kind": "DtmfData",
            "dtmfData": {"timestamp": iso_z(), "participantRawID": self.participant_raw_id, "data": tone},
        }
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._ws.send(json.dumps(message))

    async def _clock(self, ws: ClientConnection) -> None:
        tl = self.timeline
        loop = asyncio.get_running_loop()
        start = loop.time()
        start_perf = time.perf_counter()
        start_wall = datetime.now(UTC)
        tick = 0
        while not self._closing:
            due = start + tick * FRAME_SECONDS
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                tl.sender_max_lag_ms = max(tl.sender_max_lag_ms, -delay * 1000)
            if self._closing:
                break
            now = time.perf_counter()
            frame = self.mic.next_frame(now)
            silent = not any(frame)
            message = {
                "kind": "AudioData",
                "audioData": {
                    "timestamp": iso_z(start_wall + timedelta(seconds=tick * FRAME_SECONDS)),
                    "participantRawID": self.participant_raw_id,
                    "data": base64.b64encode(frame).decode("ascii"),
                    "silent": silent,
                },
            }
            try:
                await ws.send(json.dumps(message))
            except websockets.ConnectionClosed:
                self.close_reason = self.close_reason or "closed by app"
                break
            tl.caller_frames_sent += 1
            tl.caller_silent_frames += silent
            tl.caller_frame_times.append(now)
            played = self.playout.tick(now)
            if self._on_tick is not None:
                try:
                    self._on_tick(start_perf + tick * FRAME_SECONDS, frame, played)
                except Exception:  # a listener bug must not stop the media clock
                    log.exception("media tick listener failed")
                    self._on_tick = None
            tick += 1

    async def _receive(self, ws: ClientConnection) -> None:
        tl = self.timeline
        try:
            async for raw in ws:
                now = time.perf_counter()
                if not isinstance(raw, str):
                    tl.malformed_messages += 1
                    continue
                try:
                    message = json.loads(raw)
                except ValueError:
                    tl.malformed_messages += 1
                    continue
                if not isinstance(message, dict):
                    tl.malformed_messages += 1
                    continue
                kind = _key(message, "kind")
                kind = kind.lower() if isinstance(kind, str) else ""
                if kind == "audiodata":
                    pcm = _decode_audio(_key(message, "audioData"))
                    if pcm is None:
                        tl.malformed_messages += 1
                    else:
                        self.playout.receive(pcm, now)
                elif kind == "stopaudio":
                    self.playout.stop(now)
                else:
                    tl.malformed_messages += 1
        except websockets.ConnectionClosed:
            pass
        # The app closed its side: stop the clock.
        self.close_reason = self.close_reason or "closed by app"
        self._closing = True


def _decode_audio(payload: Any) -> bytes | None:
    if not isinstance(payload, dict):
        return None
    data = _key(payload, "data")
    if not isinstance(data, str):
        return None
    try:
        pcm = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(pcm) % 2:
        return None
    return pcm

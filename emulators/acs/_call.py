"""One simulated call: its ids and state, the callbacks ACS sends the app, the media session and the
caller script."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
import wave
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from switchboard.speech import resample_pcm16

from . import _wire
from ._delivery import Delivery, post_json
from ._media import FRAME_SECONDS, CallerUtterance, CallTimeline, MediaSession
from ._recording import Recording, mix_pcm16
from .script import HangUp, PlayWav, Say, SendDtmf, Silence, Step, WaitAgentDone, WaitAgentHeard

if TYPE_CHECKING:
    from .emulator import AcsEmulator, RecordedRequest

log = logging.getLogger(__name__)


class CallState(StrEnum):
    RINGING = "ringing"  # IncomingCall delivered, not answered yet
    CONNECTING = "connecting"  # outbound call created, callee not answered yet
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # hung up by either side
    TRANSFERRED = "transferred"  # the app's leg left after a successful transfer
    FAILED = "failed"  # never connected (rejected, not answered, create failed)


TERMINAL_STATES = frozenset({CallState.DISCONNECTED, CallState.TRANSFERRED, CallState.FAILED})

# Milestones `SimulatedCall.wait_for` knows. Each is reached at most once.
MILESTONES = (
    "incoming_delivered",
    "answered",
    "connected",
    "media_opened",
    "script_done",
    "transfer_accepted",
    "transfer_failed",
    "media_closed",
    "disconnected",
    "finished",
)


@dataclass
class SentEvent:
    """A callback event the emulator posted to the app."""

    event: dict[str, Any]
    url: str
    queued_at: float
    delivery: Delivery | None = None

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def short_type(self) -> str:
        return self.type.removeprefix(_wire.EVENT_PREFIX)


class SimulatedCall:
    """A call the emulator plays ACS for. Created by `AcsEmulator.place_call` (inbound) or by the app's
    create-call request (outbound). Tests and benchmarks read its timeline and events."""

    def __init__(
        self,
        emulator: AcsEmulator,
        *,
        direction: str,
        caller: str,
        callee: str,
        script: list[Step],
        caller_display_name: str = "",
        max_call_seconds: float | None = None,
    ) -> None:
        self._emu = emulator
        self.direction = direction
        self.caller = _wire.bare_number(caller)
        self.callee = _wire.bare_number(callee)
        self.caller_display_name = caller_display_name
        self.script = script
        self.correlation_id = str(uuid.uuid4())
        self.call_id = self.correlation_id
        self.server_call_id = _wire.new_server_call_id()
        self.call_connection_id: str | None = None
        self.incoming_call_context: str | None = None
        self.state = CallState.CONNECTING if direction == "outbound" else CallState.RINGING
        self.callback_uri: str | None = None
        self.operation_context: str | None = None
        self.media_options: dict[str, Any] | None = None
        self.transfer_target: str | None = None
        self.event_grid_url: str | None = None  # where IncomingCall went; recording files go there too
        self.recordings: list[Recording] = []
        self.end_reason: str | None = None
        self.error: str | None = None
        self.placed_at = time.perf_counter()
        self.placed_wall = datetime.now(UTC)
        self.timeline = CallTimeline(created_at=self.placed_at, created_wall=self.placed_wall)
        self.media: MediaSession | None = None
        self.events: list[SentEvent] = []
        self.incoming_deliveries: list[Delivery] = []
        self.milestones: dict[str, float] = {}
        self._max_call_seconds = max_call_seconds
        self._waiters: dict[str, asyncio.Event] = {}
        self._event_added = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue: asyncio.Queue[SentEvent | None] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._media_task: asyncio.Task[None] | None = None
        self._play_lock = asyncio.Lock()
        self._plays: set[asyncio.Task[Any]] = set()
        self._participants_seq = 0
        self._finished: asyncio.Future[SimulatedCall] = asyncio.get_running_loop().create_future()
        self._closed = False

    # ---------------------------------------------------------------- public surface

    @property
    def finished(self) -> Awaitable[SimulatedCall]:
        """Resolves (to the call) once it has ended and its last callback was delivered or given up."""
        return asyncio.shield(self._finished)

    @property
    def is_over(self) -> bool:
        return self.state in TERMINAL_STATES

    # A bounded wait with a default is the point of this API (tests pass timeout=); hence ASYNC109.
    async def wait_for(self, milestone: str, *, timeout: float = 10.0) -> float:  # noqa: ASYNC109
        """Wait until `milestone` (see MILESTONES) is reached; returns its perf_counter time."""
        if milestone not in MILESTONES:
            raise ValueError(f"unknown milestone {milestone!r}; known: {', '.join(MILESTONES)}")
        if milestone in self.milestones:
            return self.milestones[milestone]
        event = self._waiters.setdefault(milestone, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"call {self.call_id}: {milestone!r} not reached within {timeout}s "
                f"(state {self.state}, reached {sorted(self.milestones)})"
            ) from None
        return self.milestones[milestone]

    async def wait_for_event(self, event_type: str, *, timeout: float = 10.0) -> SentEvent:  # noqa: ASYNC109
        """Wait until a callback of `event_type` ('PlayCompleted' or the full type) has been delivered
        (or given up on); returns it."""
        full = event_type if event_type.startswith(_wire.EVENT_PREFIX) else _wire.EVENT_PREFIX + event_type
        deadline = time.perf_counter() + timeout
        while True:
            for sent in self.events:
                if sent.type == full and sent.delivery is not None:
                    return sent
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"call {self.call_id}: no {full} within {timeout}s")
            self._event_added.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_added.wait(), remaining)

    async def caller_hang_up(self) -> None:
        """The caller hangs up: media closes and the app gets CallDisconnected."""
        if self.is_over:
            return
        if self.state is not CallState.CONNECTED:
            self._fail("caller abandoned before answer")
            return
        self._end(CallState.DISCONNECTED, "caller hung up")

    def heard_pcm(self) -> bytes:
        """Agent audio the caller heard (played segments back to back, PCM16LE mono)."""
        return self.timeline.heard_pcm()

    @property
    def stop_audio_times(self) -> list[float]:
        return self.timeline.stop_audio_times

    @property
    def frames_after_stop(self) -> int:
        return self.timeline.frames_after_stop

    @property
    def late_frames(self) -> int:
        return self.timeline.late_frames

    @property
    def event_types(self) -> list[str]:
        return [e.short_type for e in self.events]

    @property
    def requests(self) -> list[RecordedRequest]:
        """REST requests the app made about this call."""
        return [
            r
            for r in self._emu.requests
            if r.call_connection_id is not None and r.call_connection_id == self.call_connection_id
        ]

    def properties(self) -> dict[str, Any]:
        """CallConnectionProperties as ACS returns them."""
        state = {
            CallState.RINGING: "unknown",
            CallState.CONNECTING: "connecting",
            CallState.CONNECTED: "connected",
        }.get(self.state, "disconnected")
        props: dict[str, Any] = {
            "callConnectionId": self.call_connection_id,
            "serverCallId": self.server_call_id,
            "correlationId": self.correlation_id,
            "callConnectionState": state,
            "callbackUri": self.callback_uri,
            "source": _wire.identifier(self.caller if self.direction == "inbound" else self.callee),
            "targets": [_wire.identifier(self.callee if self.direction == "inbound" else self.caller)],
        }
        if self.direction == "outbound":
            props["source"] = _wire.identifier(self.caller)
            props["targets"] = [_wire.identifier(self.callee)]
            props["sourceCallerIdNumber"] = {"value": self.caller}
        if self.media_options:
            props["mediaStreamingSubscription"] = {
                "id": self._subscription_id,
                "state": "active" if self.media is not None else "inactive",
                "subscribedContentTypes": ["audio"],
            }
        return props

    def summary(self) -> dict[str, Any]:
        """JSON-able status and timeline summary (the control API's GET /emulator/calls/{id})."""
        tl = self.timeline

        def rel(t: float | None) -> float | None:
            return None if t is None else round(t - self.placed_at, 4)

        return {
            "call_id": self.call_id,
            "direction": self.direction,
            "state": str(self.state),
            "caller": self.caller,
            "callee": self.callee,
            "call_connection_id": self.call_connection_id,
            "server_call_id": self.server_call_id,
            "correlation_id": self.correlation_id,
            "placed_at": _wire.iso_z(self.placed_wall),
            "times_are": "seconds since placed_at",
            "milestones": {k: rel(v) for k, v in self.milestones.items()},
            "end_reason": self.end_reason,
            "transfer_target": self.transfer_target,
            "error": self.error,
            "media": {
                "transport_url": self.media.url if self.media else None,
                "sample_rate": tl.sample_rate,
                "opened_at": rel(tl.media_opened_at),
                "closed_at": rel(tl.media_closed_at),
                "caller_frames_sent": tl.caller_frames_sent,
                "caller_silent_frames": tl.caller_silent_frames,
                "sender_max_lag_ms": round(tl.sender_max_lag_ms, 2),
                "agent_messages_received": len(tl.agent_message_times),
                "agent_bytes_received": tl.agent_bytes_received,
                "agent_frames_played": len(tl.played_frame_times),
                "late_frames": tl.late_frames,
                "malformed_messages": tl.malformed_messages,
                "stop_audio_count": len(tl.stops),
                "frames_after_stop": tl.frames_after_stop,
            },
            "caller_utterances": [
                {
                    "kind": u.kind,
                    "text": u.text,
                    "started_at": rel(u.started_at),
                    "onset_at": rel(u.onset_at),
                    "offset_at": rel(u.offset_at),
                    "ended_at": rel(u.ended_at),
                }
                for u in tl.caller_utterances
            ],
            "agent_segments": [
                {
                    "started_at": rel(s.started_at),
                    "ended_at": rel(s.ended_at),
                    "duration_ms": round(s.duration * 1000),
                    "underruns": s.underruns,
                    "interrupted": s.interrupted,
                }
                for s in tl.agent_segments
            ],
            "stops": [
                {
                    "received_at": rel(s.received_at),
                    "dropped_ms": round(s.dropped_bytes / max(1, tl.frame_bytes) * 20),
                    "frames_after": s.frames_after,
                }
                for s in tl.stops
            ],
            "script": {
                "steps": len(self.script),
                "done": "script_done" in self.milestones,
                "timeouts": list(tl.script_timeouts),
            },
            "recordings": [
                {
                    "recording_id": r.recording_id,
                    "state": r.state,
                    "ended": r.ended,
                    "duration_ms": r.duration_ms,
                    "document_id": r.file.document_id if r.file else None,
                }
                for r in self.recordings
            ],
            "events": [
                {
                    "type": e.short_type,
                    "id": e.event["id"],
                    "delivered": bool(e.delivery and e.delivery.delivered),
                    "status": e.delivery.last_status if e.delivery else None,
                }
                for e in self.events
            ],
        }

    # ---------------------------------------------------------------- driven by the emulator

    @property
    def _subscription_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.server_call_id))

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"acs-emulator-{name}-{self.call_id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s: task %s failed", self.call_id, task.get_name(), exc_info=task.exception())

    def _reach(self, milestone: str) -> None:
        if milestone in self.milestones:
            return
        self.milestones[milestone] = time.perf_counter()
        self.timeline.mark(milestone)
        self._waiters.setdefault(milestone, asyncio.Event()).set()

    def _start(self) -> None:
        if self._max_call_seconds:
            self._spawn(self._watchdog(self._max_call_seconds), "watchdog")

    async def _watchdog(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self.is_over:
            self.timeline.mark("max_call_seconds")
            await self.caller_hang_up()

    def emit(
        self,
        event_type: str,
        *,
        operation_context: str | None = None,
        result: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> SentEvent | None:
        """Queue one callback event for in-order delivery to the call's callback URI."""
        target = url or self.callback_uri
        if target is None or self.call_connection_id is None:
            return None
        event = _wire.cloud_event(
            event_type,
            call_connection_id=self.call_connection_id,
            server_call_id=self.server_call_id,
            correlation_id=self.correlation_id,
            operation_context=operation_context,
            result=result,
            extra=extra,
        )
        sent = SentEvent(event=event, url=target, queued_at=time.perf_counter())
        self.events.append(sent)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_events(), name=f"acs-emulator-events-{self.call_id[:8]}")
        self._queue.put_nowait(sent)
        return sent

    async def _send_events(self) -> None:
        options = self._emu.options
        while True:
            sent = await self._queue.get()
            if sent is None:
                return
            sent.delivery = await post_json(
                self._emu.http,
                sent.url,
                [sent.event],
                headers=dict(options.callback_headers),
                attempts=options.callback_attempts,
                backoff=options.callback_backoff,
            )
            self._event_added.set()

    # answer / create ----------------------------------------------------------------

    def answered(self, body: dict[str, Any]) -> None:
        self.call_connection_id = _wire.new_call_connection_id()
        self._accept_options(body)
        self.state = CallState.CONNECTED
        self._reach("answered")
        self._spawn(self._connect(self._emu.options.connect_delay), "connect")

    def created(self, body: dict[str, Any]) -> None:
        self.call_connection_id = _wire.new_call_connection_id()
        self._accept_options(body)
        self._spawn(self._outbound_ring(), "ring")

    def _accept_options(self, body: dict[str, Any]) -> None:
        self.callback_uri = body.get("callbackUri")
        self.operation_context = body.get("operationContext")
        options = body.get("mediaStreamingOptions")
        self.media_options = options if isinstance(options, dict) else None
        if self.media_options:
            fmt = str(self.media_options.get("audioFormat") or "pcm16KMono").lower()
            self.timeline.sample_rate = 24000 if fmt.startswith("pcm24k") else 16000
            self._spawn(self._emu.prerender(self.script, self.timeline.sample_rate), "prerender")

    async def _outbound_ring(self) -> None:
        await asyncio.sleep(self._emu.options.outbound_answer_delay)
        if self.is_over:
            return
        if self.callee in self._emu.options.failing_targets:
            self.emit(
                "CreateCallFailed",
                operation_context=self.operation_context,
                result=_wire.result_information(408, 0, "Call was not answered (emulated failing target)."),
            )
            self._fail("callee did not answer")
            return
        self.state = CallState.CONNECTED
        self._reach("answered")
        await self._connect(0.0)

    async def _connect(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self.is_over:
            return
        self.emit(
            "CallConnected",
            operation_context=self.operation_context,
            result=_wire.result_information(200, 0, "Call connected."),
        )
        self._participants_updated()
        self._reach("connected")
        self._start()
        if self.media_options and self.media_options.get("startMediaStreaming"):
            self.start_media()

    def _participants_updated(self) -> None:
        self._participants_seq += 1
        participants = [
            {"identifier": _wire.identifier(self.caller), "isMuted": False, "isOnHold": False},
            {"identifier": _wire.identifier(self.callee), "isMuted": False, "isOnHold": False},
        ]
        self.emit(
            "ParticipantsUpdated",
            extra={"sequenceNumber": self._participants_seq, "participants": participants},
        )

    # media ------------------------------------------------------------------------

    def start_media(self, operation_context: str | None = None) -> bool:
        """Open the media WebSocket (once). False when there is no transport URL."""
        if self.media is not None or self.is_over or not self.media_options:
            return self.media is not None
        url = self.media_options.get("transportUrl")
        if not isinstance(url, str) or not url:
            return False
        opts = self._emu.options
        self.media = MediaSession(
            url=url,
            timeline=self.timeline,
            subscription_id=self._subscription_id,
            participant_raw_id=_wire.raw_id(self.caller if self.direction == "inbound" else self.callee),
            keep_audio=opts.keep_audio,
            underrun_gap_ms=opts.underrun_gap_ms,
            stop_window_ms=opts.stop_window_ms,
            connect_timeout=opts.media_connect_timeout,
            headers=opts.media_headers,
            on_tick=self._record_tick,
        )
        self._media_task = self._spawn(self._run_media(self.media, operation_context), "media")
        return True

    async def _run_media(self, media: MediaSession, operation_context: str | None) -> None:
        opened = asyncio.create_task(media.opened.wait())
        runner = asyncio.create_task(media.run())
        script: asyncio.Task[None] | None = None
        try:
            await asyncio.wait({opened, runner}, return_when=asyncio.FIRST_COMPLETED)
            if media.opened.is_set():
                self._reach("media_opened")
                self.emit(
                    "MediaStreamingStarted",
                    operation_context=operation_context,
                    extra={"mediaStreamingUpdate": _media_update("mediaStreamingStarted", "subscriptionStarted")},
                    result=_wire.result_information(200, 0, "Action completed successfully."),
                )
                script = self._spawn(self._run_script(media), "script")
            await runner
        except Exception as exc:  # connect refused, bad URL, handshake rejected...
            self.error = f"media: {type(exc).__name__}: {exc}"
            self.timeline.mark("media_failed", self.error)
            self.emit(
                "MediaStreamingFailed",
                operation_context=operation_context,
                extra={"mediaStreamingUpdate": _media_update("mediaStreamingFailed", "streamConnectionUnsuccessful")},
                result=_wire.result_information(500, 8581, "Media streaming connection failed (emulated)."),
            )
        finally:
            opened.cancel()
            if not runner.done():
                runner.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(runner, 3.0)
            if script is not None and not script.done():
                script.cancel()
            self._reach("media_closed")

    # script -----------------------------------------------------------------------

    async def _run_script(self, media: MediaSession) -> None:
        for index, step in enumerate(self.script):
            if self.is_over:
                return
            self.timeline.mark("step", f"{index}:{type(step).__name__}")
            if isinstance(step, Say):
                pcm = await self._emu.render(step.text, step.voice, self.timeline.sample_rate)
                await self._speak(media, index, "say", step.text, pcm)
            elif isinstance(step, PlayWav):
                pcm = await asyncio.to_thread(read_wav_pcm, step.path, self.timeline.sample_rate)
                await self._speak(media, index, "play_wav", step.path, pcm)
            elif isinstance(step, Silence):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, WaitAgentDone):
                await self._wait_agent_done(media, index, step)
            elif isinstance(step, WaitAgentHeard):
                await self._wait_agent_heard(media, index, step)
            elif isinstance(step, SendDtmf):
                for tone in step.tones:
                    await media.send_dtmf(tone)
                    await asyncio.sleep(0.1)
            elif isinstance(step, HangUp):
                self._reach("script_done")
                await self.caller_hang_up()
                return
        self._reach("script_done")

    async def _speak(self, media: MediaSession, index: int, kind: str, text: str, pcm: bytes) -> None:
        utterance = CallerUtterance(step_index=index, kind=kind, text=text, queued_at=time.perf_counter())
        await media.mic.enqueue(utterance, pcm)

    async def _wait_agent_done(self, media: MediaSession, index: int, step: WaitAgentDone) -> None:
        began = time.perf_counter()
        playout = media.playout
        quiet = step.quiet_ms / 1000
        while True:
            now = time.perf_counter()
            last = playout.last_played_at
            spoke = last is not None and last >= began - 2 * FRAME_SECONDS
            if (spoke or not step.require_speech) and playout.buffered_bytes == 0:
                reference = last if last is not None and last >= began else began
                if now - reference >= quiet:
                    return
            if now - began >= step.timeout:
                self.timeline.script_timeouts.append(f"step {index}: wait_agent_done")
                return
            await asyncio.sleep(FRAME_SECONDS)

    async def _wait_agent_heard(self, media: MediaSession, index: int, step: WaitAgentHeard) -> None:
        began = time.perf_counter()
        while True:
            segment = media.playout.current_segment
            now = time.perf_counter()
            if segment is not None and segment.frames * FRAME_SECONDS >= step.ms / 1000:
                return
            if now - began >= step.timeout:
                self.timeline.script_timeouts.append(f"step {index}: wait_agent_heard")
                return
            await asyncio.sleep(FRAME_SECONDS / 2)

    # call control -----------------------------------------------------------------

    def hang_up(self, reason: str) -> None:
        self._end(CallState.DISCONNECTED, reason)

    def transfer(self, target: dict[str, Any], operation_context: str | None) -> None:
        self._spawn(self._transfer(target, operation_context), "transfer")

    async def _transfer(self, target: dict[str, Any], operation_context: str | None) -> None:
        await asyncio.sleep(self._emu.options.transfer_delay)
        if self.is_over:
            return
        number = _wire.identifier_value(target) or ""
        self.transfer_target = number
        if number in self._emu.options.failing_targets:
            self.emit(
                "CallTransferFailed",
                operation_context=operation_context,
                result=dict(self._emu.options.transfer_failure),
            )
            self._reach("transfer_failed")
            return
        self.emit(
            "CallTransferAccepted",
            operation_context=operation_context,
            result=_wire.result_information(200, 0, "The transfer operation completed successfully."),
            extra={"transferTarget": target, "transferee": _wire.identifier(self.caller)},
        )
        self._reach("transfer_accepted")
        self._end(CallState.TRANSFERRED, f"transferred to {number}")

    def play(self, body: dict[str, Any]) -> None:
        task = self._spawn(self._play(body), "play")
        self._plays.add(task)
        task.add_done_callback(self._plays.discard)

    async def _play(self, body: dict[str, Any]) -> None:
        context = body.get("operationContext")
        sources = body.get("playSources") or []
        loop_play = bool((body.get("playOptions") or {}).get("loop"))
        try:
            async with self._play_lock:
                if self.is_over:
                    return
                if not sources or not all(isinstance(s, dict) for s in sources):
                    self.emit(
                        "PlayFailed",
                        operation_context=context,
                        result=_wire.result_information(400, 8535, "Action failed, file format is invalid."),
                        extra={"failedPlaySourceIndex": 0},
                    )
                    return
                self.emit("PlayStarted", operation_context=context)
                seconds = sum(self._play_seconds(s) for s in sources)
                self.timeline.mark("acs_play_started", f"{seconds:.2f}s")
                await asyncio.sleep(seconds if not loop_play else self._emu.options.max_loop_play_seconds)
                if self.is_over:
                    return
                self.timeline.mark("acs_play_completed")
                self.emit(
                    "PlayCompleted",
                    operation_context=context,
                    result=_wire.result_information(200, 0, "Action completed successfully."),
                )
        except asyncio.CancelledError:
            if not self.is_over and not self._closed:
                self.emit(
                    "PlayCanceled",
                    operation_context=context,
                    result=_wire.result_information(400, 8508, "Action failed, the operation was canceled."),
                )
            raise

    def _play_seconds(self, source: dict[str, Any]) -> float:
        kind = str(source.get("kind", "")).lower()
        if kind == "text":
            text = str((source.get("text") or {}).get("text", ""))
        elif kind == "ssml":
            text = re.sub(r"<[^>]+>", " ", str((source.get("ssml") or {}).get("ssmlText", "")))
        else:
            return self._emu.options.play_file_seconds
        words = len(text.split())
        return max(0.2, words * 60 / 175)  # espeak's default pace, 175 words per minute

    def cancel_media_operations(self) -> None:
        for task in list(self._plays):
            task.cancel()

    def _record_tick(self, due: float, caller: bytes, agent: bytes | None) -> None:
        active = [r for r in self.recordings if r.active]
        if not active:
            return
        mixed = mix_pcm16(caller, agent)
        for recording in active:
            recording.capture(due, mixed)

    def add_recording(self, recording: Recording) -> None:
        recording.sample_rate = self.timeline.sample_rate
        self.recordings.append(recording)
        self.recording_changed(recording)

    def pause_recording(self, recording: Recording) -> None:
        recording.pause(time.perf_counter())
        self.recording_changed(recording)

    def resume_recording(self, recording: Recording) -> None:
        recording.resume(time.perf_counter())
        self.recording_changed(recording)

    def end_recording(self, recording: Recording, reason: str) -> None:
        """Stop `recording` (once): RecordingStateChanged inactive, then its file is published."""
        if recording.ended:
            return
        recording.end(time.perf_counter(), reason)
        self.recording_changed(recording)
        self._emu._recording_ended(self, recording)

    def _end_recordings(self) -> None:
        for recording in self.recordings:
            self.end_recording(recording, "CallEnded")

    def recording_changed(self, recording: Recording) -> None:
        self.emit(
            "RecordingStateChanged",
            url=recording.callback_uri,
            extra={
                "recordingId": recording.recording_id,
                "state": recording.state,
                "startDateTime": recording.started_at.isoformat(),
                "recordingKind": recording.kind,
            },
        )

    # ending -----------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        if self.is_over:
            return
        self.state = CallState.FAILED
        self.end_reason = reason
        self._end_recordings()
        self._reach("disconnected")
        self._spawn(self._wind_down(), "wind-down")

    def _end(self, state: CallState, reason: str) -> None:
        if self.is_over:
            return
        was_connected = self.state is CallState.CONNECTED
        self.state = state
        self.end_reason = reason
        if was_connected:
            self.emit(
                "CallDisconnected",
                operation_context=self.operation_context,
                result=_wire.result_information(200, 0, reason),
            )
        self._end_recordings()
        self._reach("disconnected")
        self._spawn(self._wind_down(), "wind-down")

    async def _wind_down(self) -> None:
        if self.media is not None:
            await self.media.close(self.end_reason or "ended")
        if self._media_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._media_task), 3.0)
        for task in list(self._plays):
            task.cancel()
        if self._sender is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._sender), self._emu.options.drain_timeout)
        self._reach("finished")
        if not self._finished.done():
            self._finished.set_result(self)

    async def aclose(self) -> None:
        """Cancel everything the call owns (emulator shutdown)."""
        self._closed = True
        if not self.is_over:
            self.state = CallState.DISCONNECTED
            self.end_reason = self.end_reason or "emulator closed"
        if self.media is not None:
            await self.media.close("emulator closed")
        tasks = [t for t in (*self._tasks, self._sender) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3.0)
        if not self._finished.done():
            self._finished.set_result(self)


def _media_update(status: str, details: str) -> dict[str, Any]:
    return {"contentType": "Audio", "mediaStreamingStatus": status, "mediaStreamingStatusDetails": details}


def read_wav_pcm(path: str, sample_rate: int) -> bytes:
    """A 16-bit WAV file as mono PCM16LE at `sample_rate`."""
    with wave.open(path, "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit WAV is supported")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype("<i2")
    return resample_pcm16(samples.tobytes(), rate, sample_rate)


Renderer = Callable[[str, str | None, int], bytes]

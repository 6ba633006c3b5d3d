"""One call's media session: the ACS socket, the pipeline, the conversation, the turn signals.

    socket -> AcsSerializer -> [resample -> VAD -> barge-in -> recognition -> turn detection
           -> brain -> clause chunking -> synthesis -> pacer -> turn recorder] -> socket

The session greets the caller, feeds the caller's audio into the pipeline and signals every
finished turn through the `CallBridge` (never waiting on Temporal). All of its tasks belong to one
`TaskOwner`: an exception in this call's engines ends this call only, and closing the socket
cancels everything with a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from realtime.actions import ActionsToolRunner, CallActions
from realtime.bridge import BridgeOverflow, CallBridge
from realtime.conversation import Conversation
from realtime.engines.base import Engines, ToolRunner
from realtime.frames import CallerAudioFrame, DtmfFrame, GreetFrame
from realtime.live import LiveTranscript
from realtime.metrics import RealtimeMetrics, TurnMetrics
from realtime.processors.barge_in import BargeInGate
from realtime.processors.base import Pipeline
from realtime.processors.brain import BrainProcessor
from realtime.processors.chunker import ClauseChunker
from realtime.processors.pacer import OutputPacer, PacerConfig
from realtime.processors.recognition import SpeechRecognition
from realtime.processors.recorder import TurnRecorder
from realtime.processors.resample import InputResampler
from realtime.processors.synthesis import SpeechSynthesis
from realtime.processors.turn import TurnDetector
from realtime.processors.vad import VadConfig, VoiceActivityDetector
from realtime.recording import CallRecording
from realtime.tasks import TaskOwner
from realtime.transport.acs import AcsFrameError, AcsSerializer, AudioData, AudioMetadata, DtmfData
from workflows.contracts import Turn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionConfig:
    pipeline_rate: int = 16000  # caller audio is resampled to this for VAD and recognition
    carrier_rate: int = 16000  # assumed until ACS's AudioMetadata says otherwise
    default_agent: str = "default"
    vad: VadConfig = field(default_factory=VadConfig)
    pacer: PacerConfig = field(default_factory=PacerConfig)
    preroll_ms: int = 300
    turn_min_chars: int = 1
    final_timeout_ms: int = 0
    barge_in: bool = True
    greet: bool = True
    close_timeout: float = 2.0
    recording_max_seconds: float = 3600.0  # 0: no recording


class MediaSocket(Protocol):
    """The carrier socket as the session sees it."""

    async def receive(self) -> str | bytes | None:
        """The next message, or None once the peer has closed."""
        ...

    async def send_text(self, text: str) -> None: ...


class AcsAudioOut:
    """The pacer's output: ACS `AudioData` / `StopAudio` messages on the socket."""

    def __init__(self, socket: MediaSocket, *, recording: CallRecording | None = None) -> None:
        self._socket = socket
        self._recording = recording
        self.frames_sent = 0

    async def send_audio(self, pcm: bytes) -> None:
        await self._socket.send_text(AcsSerializer.audio(pcm))
        self.frames_sent += 1
        if self._recording is not None:  # recorded as sent: what a barge-in cut never gets here
            self._recording.add_agent(pcm)

    async def send_stop(self) -> None:
        await self._socket.send_text(AcsSerializer.stop_audio())


class MediaSession:
    def __init__(
        self,
        *,
        call_id: str,
        socket: MediaSocket,
        engines: Engines,
        bridge: CallBridge,
        actions: CallActions,
        tools: ToolRunner | None = None,
        live: LiveTranscript | None = None,
        metrics: RealtimeMetrics | None = None,
        config: SessionConfig | None = None,
        agent: str | None = None,
    ) -> None:
        self.call_id = call_id
        self.config = config or SessionConfig()
        self._socket = socket
        self._engines = engines
        self._bridge = bridge
        self._actions = actions
        self._tools = tools or ActionsToolRunner(actions)
        self._live = live
        self._metrics = metrics or RealtimeMetrics()
        self._turn_metrics = TurnMetrics()
        self.conversation = Conversation(
            call_id=call_id,
            agent=agent or self.config.default_agent,
            on_turn=self._on_turn,
            timings=self._turn_metrics.take,
        )
        self._serializer = AcsSerializer(sample_rate=self.config.carrier_rate)
        self._owner = TaskOwner(f"call-{call_id}", on_failure=self._on_failure)
        self._done = asyncio.Event()
        self._pipeline: Pipeline | None = None
        self._pacer: OutputPacer | None = None
        self._recognition: SpeechRecognition | None = None
        self.recording: CallRecording | None = None
        self.end_reason = "socket_closed"
        self.failure: BaseException | None = None
        self.broken_frames = 0
        self.turns: list[Turn] = []

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> str:
        """Serve the call until the socket closes or the session fails; returns the end reason."""
        self._metrics.calls.inc()
        self._metrics.active_calls += 1
        try:
            self._owner.spawn(self._receive_loop(), name="receive")
            await self._done.wait()
        finally:
            await self._close()
            self._metrics.active_calls -= 1
        return self.end_reason

    def _on_failure(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
            self.end_reason = "realtime_error"
            self._metrics.call_failures.inc()
            logger.error("call %s: media session failed", self.call_id, exc_info=exc)
        self._done.set()

    async def _close(self) -> None:
        await self._owner.aclose(grace=self.config.close_timeout)
        if self._recognition is not None:
            try:
                await asyncio.wait_for(self._recognition.aclose(), self.config.close_timeout)
            except Exception:
                logger.warning("call %s: recognition stream did not close cleanly", self.call_id, exc_info=True)
        if self.conversation.pending is not None:  # the call ended mid-answer: keep what was heard
            heard = self._pacer.heard_so_far() if self._pacer is not None else ""
            self.conversation.finish_turn(heard_text=heard, interrupted=True)

    # ------------------------------------------------------------ inbound

    async def _receive_loop(self) -> None:
        try:
            while (message := await self._socket.receive()) is not None:
                try:
                    event = self._serializer.parse(message)
                except AcsFrameError as exc:
                    self._count_broken(exc)
                    continue
                await self._on_event(event)
        finally:
            self._done.set()

    async def _on_event(self, event: AudioMetadata | AudioData | DtmfData) -> None:
        if self._pipeline is None:
            await self._start()
        assert self._pipeline is not None
        if isinstance(event, AudioData):
            if self.recording is not None:
                self.recording.add_caller(event.pcm)
            await self._pipeline.push(
                CallerAudioFrame(
                    pcm=event.pcm,
                    sample_rate=self._serializer.sample_rate,
                    received_at=time.monotonic(),
                    silent=event.silent,
                )
            )
        elif isinstance(event, DtmfData):
            await self._pipeline.push(DtmfFrame(digit=event.tone, at=time.monotonic()))

    def _count_broken(self, exc: AcsFrameError) -> None:
        self.broken_frames += 1
        self._metrics.broken_frames.inc()
        if self.broken_frames <= 3 or self.broken_frames % 100 == 0:
            logger.warning("call %s: dropped broken media frame #%d: %s", self.call_id, self.broken_frames, exc)

    # ------------------------------------------------------------ pipeline

    async def _start(self) -> None:
        """Build and start the pipeline once the carrier's rate is known (first frame)."""
        config, engines, conversation = self.config, self._engines, self.conversation
        carrier_rate = self._serializer.sample_rate
        brain = BrainProcessor(
            brains=engines.brains, conversation=conversation, tools=self._tools, actions=self._actions
        )
        self._recognition = SpeechRecognition(
            recognizer=engines.recognizer,
            sample_rate=config.pipeline_rate,
            grammar=brain.expected_grammar,
            preroll_ms=config.preroll_ms,
        )
        if config.recording_max_seconds > 0:
            self.recording = CallRecording(sample_rate=carrier_rate, max_seconds=config.recording_max_seconds)
        self._pacer = OutputPacer(
            out=AcsAudioOut(self._socket, recording=self.recording),
            sample_rate=carrier_rate,
            conversation=conversation,
            config=config.pacer,
        )
        self._pipeline = Pipeline(
            [
                InputResampler(target_rate=config.pipeline_rate),
                VoiceActivityDetector(sample_rate=config.pipeline_rate, conversation=conversation, config=config.vad),
                BargeInGate(conversation=conversation, enabled=config.barge_in),
                self._recognition,
                TurnDetector(min_chars=config.turn_min_chars, final_timeout_ms=config.final_timeout_ms),
                brain,
                ClauseChunker(),
                SpeechSynthesis(synthesizer=engines.synthesizer, output_rate=carrier_rate, voice=engines.voice),
                self._pacer,
                TurnRecorder(conversation=conversation, actions=self._actions),
            ],
            observers=[self._turn_metrics],
        )
        self._pipeline.start(self._owner)
        if config.greet:
            await self._pipeline.push(GreetFrame())

    # ------------------------------------------------------------ turns

    def _on_turn(self, turn: Turn) -> None:
        self.turns.append(turn)
        self._metrics.record_turn(turn.timings, interrupted=turn.interrupted)
        try:
            self._bridge.turn_completed(turn)
        except BridgeOverflow:
            logger.error("call %s: turn %d not signalled: bridge queue full", self.call_id, turn.sequence)
        if self._live is not None:
            self._live.publish(self.call_id, turn)

    @property
    def last_sequence(self) -> int:
        return self.conversation.last_sequence

"""Processors, frame in -> frames out, with fake engines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from realtime.conversation import Conversation
from realtime.engines.base import EndCallRequested, Grammar, TextDelta, ToolCallRequested
from realtime.frames import (
    AgentAudioFrame,
    AgentClauseAudioEndFrame,
    AgentClauseFrame,
    AgentResponseEndedFrame,
    AgentResponseStartedFrame,
    AgentStartedSpeakingFrame,
    AgentStoppedSpeakingFrame,
    AgentTextFrame,
    CallerAudioFrame,
    CallerStartedSpeakingFrame,
    CallerStoppedSpeakingFrame,
    CallerTurnFrame,
    EndCallRequestedFrame,
    Frame,
    GreetFrame,
    InterruptionFrame,
    ToolCalledFrame,
    TranscriptFrame,
)
from realtime.processors.barge_in import BargeInGate
from realtime.processors.base import FrameProcessor, Pipeline
from realtime.processors.brain import BrainProcessor
from realtime.processors.chunker import ClauseChunker
from realtime.processors.pacer import OutputPacer, PacerConfig
from realtime.processors.recognition import SpeechRecognition
from realtime.processors.resample import InputResampler
from realtime.processors.synthesis import SpeechSynthesis
from realtime.processors.turn import TurnDetector
from realtime.processors.vad import VadConfig, VoiceActivityDetector
from realtime.tasks import TaskOwner
from tests.realtime.realtime_fakes import (
    FakeBrainFactory,
    FakeRecognizer,
    FakeSynthesizer,
    RecordingActions,
    ScriptedBrain,
    silence,
    tone,
)
from workflows.contracts import Turn


class Collector(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []
        self.arrived = asyncio.Event()

    async def process_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.arrived.set()

    def of(self, kind: type) -> list:
        return [f for f in self.frames if isinstance(f, kind)]

    async def wait_for(self, kind: type, count: int = 1, *, within: float = 5.0) -> list:
        async with asyncio.timeout(within):
            while len(self.of(kind)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.of(kind)


async def settle(*processors: FrameProcessor) -> None:
    for _ in range(200):
        await asyncio.sleep(0)
        if all(p.pending() == 0 for p in processors):
            await asyncio.sleep(0.01)
            if all(p.pending() == 0 for p in processors):
                return


async def running(processors: Sequence[FrameProcessor]) -> AsyncIterator[tuple[Pipeline, Collector]]:
    collector = Collector()
    pipeline = Pipeline([*processors, collector])
    owner = TaskOwner("test")
    pipeline.start(owner)
    try:
        yield pipeline, collector
    finally:
        await owner.aclose(grace=1.0)


def conversation(turns: list[Turn] | None = None) -> Conversation:
    sink = turns if turns is not None else []
    return Conversation(call_id="c1", agent="intake", on_turn=sink.append)


def audio_frames(pcm: bytes, *, start: float = 0.0, rate: int = 16000, silent: bool = False) -> list[CallerAudioFrame]:
    size = rate // 50 * 2
    return [
        CallerAudioFrame(pcm=pcm[i : i + size], sample_rate=rate, received_at=start + i / size * 0.02, silent=silent)
        for i in range(0, len(pcm) - size + 1, size)
    ]


# ---------------------------------------------------------------- resampling


async def test_resampler_converts_24k_caller_audio_to_16k_and_passes_other_frames() -> None:
    async for pipeline, out in running([InputResampler(target_rate=16000)]):
        for frame in audio_frames(tone(200, rate=24000), rate=24000):
            await pipeline.push(frame)
        await pipeline.push(CallerTurnFrame(text="x", at=0.0))
        await out.wait_for(CallerTurnFrame)
        audio = out.of(CallerAudioFrame)
        assert {f.sample_rate for f in audio} == {16000}
        assert abs(sum(len(f.pcm) for f in audio) - 6400) <= 640  # 200 ms at 16 kHz, minus filter delay


# ---------------------------------------------------------------- VAD


async def test_vad_reports_onset_after_min_speech_and_end_after_hangover() -> None:
    config = VadConfig(min_speech_ms=120, hangover_ms=300)
    vad = VoiceActivityDetector(sample_rate=16000, conversation=conversation(), config=config)
    async for pipeline, out in running([vad]):
        for frame in audio_frames(silence(200) + tone(600) + silence(500)):
            await pipeline.push(frame)
        stopped = (await out.wait_for(CallerStoppedSpeakingFrame))[0]
        started = out.of(CallerStartedSpeakingFrame)[0]
        assert started.speech_started_at == pytest.approx(0.2, abs=0.03)
        assert started.at - started.speech_started_at == pytest.approx(0.1, abs=0.03)  # 6th voiced frame
        assert stopped.speech_ended_at == pytest.approx(0.78, abs=0.03)
        assert stopped.at - stopped.speech_ended_at == pytest.approx(0.3, abs=0.03)
        assert len(out.of(CallerAudioFrame)) == 65  # audio is forwarded for recognition


async def test_vad_ignores_speech_shorter_than_the_minimum() -> None:
    async for pipeline, out in running([VoiceActivityDetector(sample_rate=16000, conversation=conversation())]):
        for frame in audio_frames(tone(60) + silence(600)):
            await pipeline.push(frame)
        await out.wait_for(CallerAudioFrame, 33)
        assert out.of(CallerStartedSpeakingFrame) == []


async def test_vad_treats_acs_silent_frames_as_silence() -> None:
    async for pipeline, out in running([VoiceActivityDetector(sample_rate=16000, conversation=conversation())]):
        for frame in audio_frames(tone(600), silent=True):
            await pipeline.push(frame)
        await out.wait_for(CallerAudioFrame, 30)
        assert out.of(CallerStartedSpeakingFrame) == []


async def test_vad_echo_guard_ignores_quiet_audio_while_agent_speaks_but_not_loud_speech() -> None:
    conv = conversation()
    conv.agent_speaking = True
    async for pipeline, out in running([VoiceActivityDetector(sample_rate=16000, conversation=conv)]):
        for frame in audio_frames(tone(600, amplitude=0.003)):  # about -50 dBFS: echo of our voice
            await pipeline.push(frame)
        await out.wait_for(CallerAudioFrame, 30)
        assert out.of(CallerStartedSpeakingFrame) == []
        for frame in audio_frames(tone(60, amplitude=0.3), start=1.0):  # loud but under 100 ms
            await pipeline.push(frame)
        for frame in audio_frames(silence(200), start=1.06):
            await pipeline.push(frame)
        await out.wait_for(CallerAudioFrame, 43)
        assert out.of(CallerStartedSpeakingFrame) == []
        for frame in audio_frames(tone(400, amplitude=0.3), start=2.0):
            await pipeline.push(frame)
        started = (await out.wait_for(CallerStartedSpeakingFrame))[0]
        assert started.during_agent_speech
        assert started.at - started.speech_started_at == pytest.approx(0.08, abs=0.03)


# ---------------------------------------------------------------- barge-in gate


async def test_gate_interrupts_only_while_the_agent_is_answering() -> None:
    conv = conversation()
    async for pipeline, out in running([BargeInGate(conversation=conv)]):
        await pipeline.push(CallerStartedSpeakingFrame(at=1.0, speech_started_at=0.9))
        assert out.of(InterruptionFrame) == []
        conv.begin_turn("hello")
        await pipeline.push(CallerStartedSpeakingFrame(at=2.0, speech_started_at=1.9))
        assert [type(f) for f in out.frames[-2:]] == [InterruptionFrame, CallerStartedSpeakingFrame]
        assert out.of(InterruptionFrame)[0].at == 2.0


# ---------------------------------------------------------------- recognition and turns


async def test_recognition_opens_a_stream_per_utterance_with_preroll_and_grammar() -> None:
    recognizer = FakeRecognizer(["file a claim"])
    grammar = Grammar(name="yesno", jsgf="#JSGF V1.0;", phrases=("yes", "no"))
    recognition = SpeechRecognition(recognizer=recognizer, sample_rate=16000, grammar=lambda: grammar, preroll_ms=100)
    async for pipeline, out in running([recognition]):
        for frame in audio_frames(tone(200)):  # pre-roll holds the last 100 ms
            await pipeline.push(frame)
        await settle(recognition)
        await pipeline.push(CallerStartedSpeakingFrame(at=0.2, speech_started_at=0.1))
        for frame in audio_frames(tone(300), start=0.2):
            await pipeline.push(frame)
        await pipeline.push(CallerStoppedSpeakingFrame(at=0.5, speech_ended_at=0.5))
        final = (await out.wait_for(TranscriptFrame))[0]
        assert final.text == "file a claim" and final.is_final
        stream = recognizer.streams[0]
        assert stream.grammar is grammar and stream.closed
        assert stream.fed == 3200 + 9600  # 100 ms pre-roll + 300 ms utterance
        assert out.of(CallerAudioFrame) == []  # audio ends here


async def test_turn_detector_ends_the_turn_on_the_final_after_end_of_speech() -> None:
    async for pipeline, out in running([TurnDetector()]):
        await pipeline.push(CallerStartedSpeakingFrame(at=0.0, speech_started_at=0.0))
        await pipeline.push(CallerStoppedSpeakingFrame(at=1.0, speech_ended_at=0.5))
        await pipeline.push(TranscriptFrame(text="  my car was hit ", is_final=True, at=1.1))
        await pipeline.push(CallerStartedSpeakingFrame(at=2.0, speech_started_at=2.0))
        await pipeline.push(CallerStoppedSpeakingFrame(at=3.0, speech_ended_at=2.5))
        await pipeline.push(TranscriptFrame(text="", is_final=True, at=3.1))  # noise: no turn
        await pipeline.push(GreetFrame())
        await out.wait_for(GreetFrame)
        assert [t.text for t in out.of(CallerTurnFrame)] == ["my car was hit"]


async def test_turn_detector_uses_the_partial_when_the_final_is_late() -> None:
    async for pipeline, out in running([TurnDetector(final_timeout_ms=50)]):
        await pipeline.push(CallerStartedSpeakingFrame(at=0.0, speech_started_at=0.0))
        await pipeline.push(TranscriptFrame(text="my car", is_final=False, at=0.5))
        await pipeline.push(CallerStoppedSpeakingFrame(at=1.0, speech_ended_at=0.5))
        turn = (await out.wait_for(CallerTurnFrame))[0]
        await pipeline.push(TranscriptFrame(text="my car was hit", is_final=True, at=1.5))
        await out.wait_for(TranscriptFrame, 2)
        assert turn.text == "my car" and len(out.of(CallerTurnFrame)) == 1


# ---------------------------------------------------------------- brain and chunking


async def test_brain_brackets_the_answer_and_pushes_actions_after_it() -> None:
    turns: list[Turn] = []
    conv = conversation(turns)

    def answers(text: str):
        return [
            TextDelta("One moment. "),
            ToolCallRequested(call_id="t1", name="lookup_policy", arguments={"id": "P1"}),
            EndCallRequested(reason="done"),
            TextDelta("Goodbye."),
        ]

    factory = FakeBrainFactory(lambda agent: ScriptedBrain(answers=answers))
    brain = BrainProcessor(brains=factory, conversation=conv, tools=RecordingActions(), actions=RecordingActions())  # type: ignore[arg-type]
    async for pipeline, out in running([brain]):
        await pipeline.push(CallerTurnFrame(text="bye", at=0.0))
        await out.wait_for(EndCallRequestedFrame)
        kinds = [type(f) for f in out.frames]
        assert kinds == [
            CallerTurnFrame,
            AgentResponseStartedFrame,
            AgentTextFrame,
            ToolCalledFrame,
            AgentTextFrame,
            AgentResponseEndedFrame,
            EndCallRequestedFrame,
        ]
        assert conv.agent_busy and conv.pending is not None and conv.pending.caller_text == "bye"
        assert factory.brains[0][0] == "intake"


async def test_chunker_sends_the_first_clause_before_the_answer_is_complete() -> None:
    async for pipeline, out in running([ClauseChunker()]):
        await pipeline.push(AgentResponseStartedFrame(response_id=1, at=0.0))
        for piece in ["Thanks for ", "calling, I can ", "help with that. Could", " you tell me", " your policy number"]:
            await pipeline.push(AgentTextFrame(text=piece, response_id=1))
        first = (await out.wait_for(AgentClauseFrame))[0]
        assert first.text == "Thanks for calling,"
        await out.wait_for(AgentClauseFrame, 2)
        await pipeline.push(AgentResponseEndedFrame(response_id=1))
        await out.wait_for(AgentResponseEndedFrame)
        assert [c.text for c in out.of(AgentClauseFrame)] == [
            "Thanks for calling,",
            "I can help with that.",
            "Could you tell me your policy number",
        ]


async def test_synthesis_streams_clause_audio_at_the_output_rate() -> None:
    synth = FakeSynthesizer(sample_rate=22050)
    async for pipeline, out in running([SpeechSynthesis(synthesizer=synth, output_rate=24000)]):
        await pipeline.push(AgentClauseFrame(text="hello there", response_id=1, clause_id=1, at=0.0))
        await out.wait_for(AgentClauseAudioEndFrame)
        audio = out.of(AgentAudioFrame)
        assert len(audio) > 1 and {a.sample_rate for a in audio} == {24000}
        assert sum(len(a.pcm) for a in audio) == pytest.approx(0.4 * 24000 * 2, abs=200)
        assert {a.text for a in audio} == {"hello there"}


# ---------------------------------------------------------------- pacing and barge-in


class RecordingOut:
    def __init__(self, clock) -> None:  # type: ignore[no-untyped-def]
        self.clock = clock
        self.sent: list[tuple[float, str]] = []

    async def send_audio(self, pcm: bytes) -> None:
        assert len(pcm) == 640
        self.sent.append((self.clock(), "audio"))

    async def send_stop(self) -> None:
        self.sent.append((self.clock(), "stop"))


async def test_pacer_sends_20ms_frames_at_real_time_with_the_lead() -> None:
    conv = conversation()
    out_sink = RecordingOut(time.monotonic)
    pacer = OutputPacer(out=out_sink, sample_rate=16000, conversation=conv, config=PacerConfig(lead_ms=60))
    async for pipeline, out in running([pacer]):
        start = time.monotonic()
        await pipeline.push(AgentResponseStartedFrame(response_id=1, at=start))
        await pipeline.push(
            AgentAudioFrame(pcm=tone(400), sample_rate=16000, response_id=1, clause_id=1, text="one two", at=start)
        )
        await pipeline.push(AgentClauseAudioEndFrame(response_id=1, clause_id=1))
        await pipeline.push(AgentResponseEndedFrame(response_id=1))
        await pipeline.push(EndCallRequestedFrame())
        await out.wait_for(EndCallRequestedFrame)
        elapsed = time.monotonic() - start
        times = [t - start for t, _ in out_sink.sent]
        assert len(times) == 20
        assert times[2] < 0.03  # the lead goes out at once
        assert times[-1] == pytest.approx(0.38 - 0.06, abs=0.03)  # then at real time
        assert elapsed == pytest.approx(0.4, abs=0.05)  # actions wait for the far end to play it all
        stopped = out.of(AgentStoppedSpeakingFrame)[0]
        assert stopped.heard_text == "one two" and not stopped.interrupted
        assert [type(f) for f in out.frames][-3:] == [
            AgentStoppedSpeakingFrame,
            AgentResponseEndedFrame,
            EndCallRequestedFrame,
        ]


async def test_interruption_stops_audio_once_and_reports_only_what_was_heard() -> None:
    conv = conversation()
    out_sink = RecordingOut(time.monotonic)
    pacer = OutputPacer(out=out_sink, sample_rate=16000, conversation=conv, config=PacerConfig(lead_ms=60))
    async for pipeline, out in running([pacer]):
        start = time.monotonic()
        conv.begin_turn("hi")
        await pipeline.push(AgentResponseStartedFrame(response_id=1, at=start))
        words = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
        await pipeline.push(
            AgentAudioFrame(pcm=tone(1000), sample_rate=16000, response_id=1, clause_id=1, text=words, at=start)
        )
        await pipeline.push(AgentClauseAudioEndFrame(response_id=1, clause_id=1))
        await out.wait_for(AgentStartedSpeakingFrame)
        assert conv.agent_speaking
        await asyncio.sleep(0.45 - (time.monotonic() - start))
        await pipeline.push(InterruptionFrame(at=time.monotonic()))
        await pipeline.push(InterruptionFrame(at=time.monotonic()))  # a second onset: nothing left to stop
        await asyncio.sleep(0.2)
        kinds = [kind for _, kind in out_sink.sent]
        assert kinds.count("stop") == 1 and kinds[-1] == "stop"  # no audio after StopAudio
        stopped = out.of(AgentStoppedSpeakingFrame)[0]
        assert stopped.interrupted and stopped.stop_sent_at is not None
        assert stopped.heard_text == "alpha beta gamma delta"  # 450 ms of 1000 ms: 4 of 10 words
        assert not conv.agent_speaking


async def test_audio_of_an_interrupted_answer_is_never_sent_later() -> None:
    conv = conversation()
    out_sink = RecordingOut(time.monotonic)
    pacer = OutputPacer(out=out_sink, sample_rate=16000, conversation=conv)
    async for pipeline, out in running([pacer]):
        await pipeline.push(AgentResponseStartedFrame(response_id=1, at=0.0))
        await pipeline.push(
            AgentAudioFrame(pcm=tone(200), sample_rate=16000, response_id=1, clause_id=1, text="a", at=0)
        )
        await out.wait_for(AgentStartedSpeakingFrame)
        await pipeline.push(InterruptionFrame(at=time.monotonic()))
        sent = len(out_sink.sent)
        await pipeline.push(
            AgentAudioFrame(pcm=tone(200), sample_rate=16000, response_id=1, clause_id=2, text="b", at=0)
        )
        await asyncio.sleep(0.1)
        assert len(out_sink.sent) == sent


async def test_whole_agent_side_drops_the_answer_on_interruption_and_closes_the_turn() -> None:
    turns: list[Turn] = []
    conv = conversation(turns)
    factory = FakeBrainFactory(lambda agent: ScriptedBrain(greeting="word " * 40, token_delay=0.001))
    actions = RecordingActions()
    from realtime.processors.recorder import TurnRecorder

    synth = FakeSynthesizer(ms_per_word=100)
    out_sink = RecordingOut(time.monotonic)
    processors = [
        BrainProcessor(brains=factory, conversation=conv, tools=actions, actions=actions),  # type: ignore[arg-type]
        ClauseChunker(),
        SpeechSynthesis(synthesizer=synth, output_rate=16000),
        OutputPacer(out=out_sink, sample_rate=16000, conversation=conv),
        TurnRecorder(conversation=conv, actions=actions),  # type: ignore[arg-type]
    ]
    async for pipeline, out in running(processors):
        await pipeline.push(GreetFrame())
        await out.wait_for(AgentStartedSpeakingFrame)
        await asyncio.sleep(0.3)
        await pipeline.push(InterruptionFrame(at=time.monotonic()))
        await asyncio.sleep(0.2)
        assert [k for _, k in out_sink.sent].count("stop") == 1
        assert out_sink.sent[-1][1] == "stop"
        assert len(turns) == 1 and turns[0].interrupted
        heard = turns[0].agent_text.split()
        assert 1 <= len(heard) < 10 and set(heard) == {"word"}
        assert not conv.agent_busy

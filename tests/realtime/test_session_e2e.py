"""The media session end to end: uvicorn serving create_realtime_app on a loopback port, a
websockets client playing ACS, fake engines, and a recording signal sender."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
import websockets

from realtime.bridge import SignalQueue
from realtime.engines.base import TextDelta
from realtime.live import InMemoryLiveTranscript
from realtime.metrics import RealtimeMetrics
from realtime.processors.pacer import PacerConfig
from realtime.server import RealtimeConfig, create_realtime_app
from realtime.session import Engines, SessionConfig
from switchboard.media_token import issue_media_token
from switchboard.speech import render_speech
from tests.realtime.acs_caller import FakeAcsCaller
from tests.realtime.realtime_fakes import (
    FakeBrainFactory,
    FakeRecognizer,
    FakeSynthesizer,
    RecordingActions,
    RecordingSender,
    ScriptedBrain,
    goodbye_answers,
    silence,
    tone,
)
from workflows.contracts import CallEnded, MediaAttached, Turn, call_workflow_id

SECRET = "test-media-secret"
LEAD_MS = 80


@dataclass
class Worker:
    port: int
    sender: RecordingSender
    actions: RecordingActions
    live: InMemoryLiveTranscript
    metrics: RealtimeMetrics

    def url(self, call_id: str, *, token: str | None = None) -> str:
        token = issue_media_token(call_id, secret=SECRET, ttl_seconds=60) if token is None else token
        return f"ws://127.0.0.1:{self.port}/media/{call_id}?token={token}"

    def turns(self, call_id: str) -> list[Turn]:
        return self.sender.named("turn_completed", call_workflow_id(call_id))

    def ended(self, call_id: str) -> list[CallEnded]:
        return self.sender.named("call_ended", call_workflow_id(call_id))


@contextlib.asynccontextmanager
async def worker(
    *, recognizer: FakeRecognizer, brains: FakeBrainFactory, synthesizer: FakeSynthesizer | None = None
) -> AsyncIterator[Worker]:
    sender, actions, live, metrics = RecordingSender(), RecordingActions(), InMemoryLiveTranscript(), RealtimeMetrics()
    config = RealtimeConfig(
        media_token_secret=SECRET,
        worker_id="rt-test",
        session=SessionConfig(pacer=PacerConfig(lead_ms=LEAD_MS)),
    )
    engines = Engines(recognizer=recognizer, synthesizer=synthesizer or FakeSynthesizer(), brains=brains)
    app = create_realtime_app(
        config, SignalQueue(sender), engines, actions=lambda _: actions, live=live, metrics=metrics
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Worker(port, sender, actions, live, metrics)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def brains(greeting: str = "Hello, how can I help?", **kwargs: object) -> FakeBrainFactory:
    return FakeBrainFactory(lambda agent: ScriptedBrain(greeting=greeting, **kwargs))  # type: ignore[arg-type]


async def test_greeting_audio_arrives_paced_and_is_signalled_as_turn_one() -> None:
    async with worker(recognizer=FakeRecognizer(), brains=brains()) as w:
        async with FakeAcsCaller(w.url("call-greet")) as caller:
            await w.sender.wait_for(lambda: len(w.turns("call-greet")) == 1)
            audio = caller.audio()
        greeting = w.turns("call-greet")[0]
        assert greeting.sequence == 1 and greeting.caller_text == "" and not greeting.interrupted
        assert greeting.agent_text == "Hello, how can I help?" and greeting.agent == "default"
        assert all(len(frame.pcm) == 640 for frame in audio)
        assert len(audio) == 50  # 5 words x 200 ms, in 20 ms frames
        span = audio[-1].at - audio[0].at
        assert span == pytest.approx(1.0 - LEAD_MS / 1000, abs=0.1)  # real time, after the lead
        assert caller.stops() == []
        assert isinstance(w.sender.named("media_attached")[0], MediaAttached)
        await w.sender.wait_for(lambda: len(w.ended("call-greet")) == 1)
        assert w.ended("call-greet")[0].last_sequence == 1


async def test_a_caller_utterance_becomes_a_turn_with_sequence_and_timings() -> None:
    recognizer = FakeRecognizer(["I want to report an accident"])
    async with worker(recognizer=recognizer, brains=brains()) as w:
        async with FakeAcsCaller(w.url("call-turn")) as caller:
            await w.sender.wait_for(lambda: len(w.turns("call-turn")) == 1)
            caller.say(render_speech("I want to report an accident"))
            await w.sender.wait_for(lambda: len(w.turns("call-turn")) == 2)
        turn = w.turns("call-turn")[1]
        assert turn.sequence == 2
        assert turn.caller_text == "I want to report an accident"
        assert turn.agent_text == "You said I want to report an accident. Thank you."
        assert not turn.interrupted
        timings = turn.timings
        assert 350 <= timings.end_of_speech_ms <= 550  # the 400 ms hangover
        assert timings.voice_to_voice_ms >= timings.end_of_speech_ms
        assert timings.voice_to_voice_ms < 1000
        assert timings.recognition_final_ms > 0 and timings.brain_first_token_ms >= 0
        assert timings.synthesis_first_audio_ms > 0
        assert [t.sequence for t in w.live.turns("call-turn")] == [1, 2]
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"http://127.0.0.1:{w.port}/metrics")).text
        assert 'switchboard_realtime_voice_to_voice_seconds_bucket{le="+Inf"} 1' in body
        assert "switchboard_realtime_turns_total 2" in body


async def test_barge_in_stops_the_greeting_once_and_records_only_what_was_heard() -> None:
    greeting = " ".join(f"word{i}" for i in range(30))  # 6 s of agent audio
    async with worker(recognizer=FakeRecognizer([""]), brains=brains(greeting)) as w:
        async with FakeAcsCaller(w.url("call-barge")) as caller:
            async with asyncio.timeout(5):
                while len(caller.audio()) < 50:  # about 1 s of greeting has been sent
                    await asyncio.sleep(0.01)
            spoke_at = caller.audio()[0].at
            caller.say(tone(600))
            async with asyncio.timeout(5):
                while not caller.stops():
                    await asyncio.sleep(0.01)
            await asyncio.sleep(1.0)
            stops, audio = caller.stops(), caller.audio()
        assert len(stops) == 1
        assert all(frame.at <= stops[0].at for frame in audio)  # no agent audio after StopAudio
        await w.sender.wait_for(lambda: len(w.turns("call-barge")) == 1)
        turn = w.turns("call-barge")[0]
        assert turn.interrupted
        heard = turn.agent_text.split()
        assert heard == greeting.split()[: len(heard)]
        played_s = stops[0].at - spoke_at
        assert abs(len(heard) - played_s / 0.2) <= 2  # about 200 ms per word, as played at 1x
        assert 0 < turn.timings.barge_in_stop_ms < 150


async def test_broken_frames_are_counted_and_dropped_and_the_call_goes_on() -> None:
    recognizer = FakeRecognizer(["yes"])
    async with worker(recognizer=recognizer, brains=brains()) as w:
        async with FakeAcsCaller(w.url("call-broken")) as caller:
            for raw in ["not json", b"\xff\x00binary", '{"kind":"AudioData","audioData":{"data":"@@"}}',
                        '{"kind":"Mystery"}', '{"kind":"AudioData","audioData":{"data":"AAA="}}']:
                await caller.send_raw(raw)
            await w.sender.wait_for(lambda: len(w.turns("call-broken")) == 1)
            caller.say(tone(500) + silence(100))
            await w.sender.wait_for(lambda: len(w.turns("call-broken")) == 2)
        assert w.turns("call-broken")[1].caller_text == "yes"
        assert w.metrics.broken_frames.value == 5


async def test_a_socket_without_a_valid_token_is_refused() -> None:
    async with worker(recognizer=FakeRecognizer(), brains=brains()) as w:
        for url in [w.url("call-x", token=""), w.url("call-x", token=issue_media_token("other", secret=SECRET,
                                                                                         ttl_seconds=60))]:
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url, open_timeout=5)
            assert refused.value.response.status_code == 403
        assert w.sender.signals == []


async def test_one_calls_failing_brain_does_not_affect_another_call() -> None:
    def make(agent: str) -> ScriptedBrain:
        return ScriptedBrain(greeting="Hello there.")

    factory = FakeBrainFactory(make)
    recognizer = FakeRecognizer(["help", "help"])
    async with worker(recognizer=recognizer, brains=factory) as w:
        async with FakeAcsCaller(w.url("call-bad")) as bad, FakeAcsCaller(w.url("call-good")) as good:
            await w.sender.wait_for(lambda: len(w.turns("call-bad")) == 1 and len(w.turns("call-good")) == 1)
            bad_brain = next(b for b in factory.brains)  # brains are built in connection order
            bad_brain[1].fail_on_respond = True
            bad.say(tone(500))
            await asyncio.wait_for(bad.closed.wait(), 5)
            good.say(tone(500))
            await w.sender.wait_for(lambda: len(w.turns("call-good")) == 2)
        assert bad.close_code == 1011
        await w.sender.wait_for(lambda: len(w.ended("call-bad")) == 1)
        assert w.ended("call-bad")[0].reason == "realtime_error"
        assert w.turns("call-good")[1].agent_text == "You said help. Thank you."
        assert w.metrics.call_failures.value == 1


async def test_end_call_requested_hangs_up_after_the_goodbye_has_played() -> None:
    factory = brains(answers=goodbye_answers)
    async with worker(recognizer=FakeRecognizer(["that is all"]), brains=factory) as w:
        async with FakeAcsCaller(w.url("call-bye")) as caller:
            await w.sender.wait_for(lambda: len(w.turns("call-bye")) == 1)
            caller.say(tone(500))
            await asyncio.wait_for(w.actions.hung_up.wait(), 10)
            hung_up_at = asyncio.get_running_loop().time()
            last_audio = caller.audio()[-1].at
        assert w.actions.calls == [("hang_up", "completed")]
        turn = w.turns("call-bye")[1]
        assert turn.agent_text == "Thank you for calling. Goodbye." and not turn.interrupted
        assert hung_up_at - last_audio >= LEAD_MS / 1000 - 0.03  # the buffered lead played out first


async def test_health_reports_the_worker() -> None:
    async with worker(recognizer=FakeRecognizer(), brains=brains()) as w:
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"http://127.0.0.1:{w.port}/health")).json()
        assert health["status"] == "ok" and health["worker_id"] == "rt-test"


def test_text_delta_is_the_engine_event_used_by_fakes() -> None:
    assert TextDelta("x").text == "x"

"""Per-turn metrics: the observer's timings and the Prometheus exposition."""

from __future__ import annotations

from realtime.frames import (
    AgentAudioFrame,
    AgentClauseFrame,
    AgentResponseStartedFrame,
    AgentStartedSpeakingFrame,
    AgentStoppedSpeakingFrame,
    AgentTextFrame,
    CallerStoppedSpeakingFrame,
    TranscriptFrame,
)
from realtime.metrics import RealtimeMetrics, TurnMetrics


def test_observer_derives_each_latency_from_the_frames_it_sees() -> None:
    now = [0.0]
    metrics = TurnMetrics(clock=lambda: now[0])
    metrics.on_frame("vad", CallerStoppedSpeakingFrame(at=10.5, speech_ended_at=10.0))
    metrics.on_frame("recognition", TranscriptFrame(text="hi", is_final=True, at=10.6))
    metrics.on_frame("brain", AgentResponseStartedFrame(response_id=1, at=10.65))
    now[0] = 10.7
    metrics.on_frame("brain", AgentTextFrame(text="Hello", response_id=1))
    metrics.on_frame("brain", AgentResponseStartedFrame(response_id=1, at=10.65))  # seen again downstream
    metrics.on_frame("chunker", AgentClauseFrame(text="Hello", response_id=1, clause_id=1, at=10.72))
    metrics.on_frame("synthesis", AgentAudioFrame(pcm=b"", sample_rate=16000, response_id=1, clause_id=1,
                                                  text="Hello", at=10.8))
    metrics.on_frame("pacer", AgentStartedSpeakingFrame(response_id=1, at=10.81))
    metrics.on_frame("pacer", AgentStoppedSpeakingFrame(response_id=1, heard_text="He", interrupted=True, at=11.0,
                                                        interruption_at=11.0, stop_sent_at=11.004))
    timings = metrics.take()
    assert timings.end_of_speech_ms == 500.0
    assert timings.recognition_final_ms == 100.0
    assert timings.brain_first_token_ms == 50.0
    assert timings.synthesis_first_audio_ms == 80.0
    assert timings.voice_to_voice_ms == 810.0
    assert timings.barge_in_stop_ms == 4.0
    assert metrics.take().voice_to_voice_ms == 0.0  # the next turn starts from nothing


def test_prometheus_exposition_has_histograms_and_counters() -> None:
    registry = RealtimeMetrics()
    observer = TurnMetrics()
    observer.current.voice_to_voice_ms = 420.0
    registry.record_turn(observer.take(), interrupted=False)
    registry.broken_frames.inc(3)
    text = registry.render()
    assert "# TYPE switchboard_realtime_voice_to_voice_seconds histogram" in text
    assert 'switchboard_realtime_voice_to_voice_seconds_bucket{le="0.3"} 0' in text
    assert 'switchboard_realtime_voice_to_voice_seconds_bucket{le="0.5"} 1' in text
    assert "switchboard_realtime_voice_to_voice_seconds_sum 0.420000" in text
    assert 'switchboard_realtime_barge_in_stop_seconds_bucket{le="+Inf"} 0' in text
    assert "switchboard_realtime_broken_frames_total 3" in text
    assert text.endswith("\n")

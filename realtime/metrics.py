"""Per-turn latency metrics: measured by an observer of the pipeline's frames (not a processor),
sent with each turn in `TurnTimings`, and exported by the worker in Prometheus text format.

- end of speech: last voiced caller audio -> end of speech detected (the hangover, mostly)
- recognition final: end of speech detected -> final transcript
- brain first token: answer requested -> first text
- synthesis first audio: first clause -> its first audio
- voice to voice: last voiced caller audio -> first agent audio frame written to the socket
- barge-in stop: confirmed caller onset -> StopAudio written to the socket
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import fields

from realtime.frames import (
    AgentAudioFrame,
    AgentClauseFrame,
    AgentResponseStartedFrame,
    AgentStartedSpeakingFrame,
    AgentStoppedSpeakingFrame,
    AgentTextFrame,
    CallerStoppedSpeakingFrame,
    Frame,
    TranscriptFrame,
)
from workflows.contracts import TurnTimings

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
PREFIX = "switchboard_realtime"


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * len(self.buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for bound, count in zip(self.buckets, self.counts, strict=True):
            lines.append(f'{self.name}_bucket{{le="{bound:g}"}} {count}')
        lines.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{self.name}_sum {self.sum:.6f}")
        lines.append(f"{self.name}_count {self.count}")
        return lines


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help, self.value = name, help_text, 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter", f"{self.name} {self.value}"]


TIMING_HELP = {
    "end_of_speech_ms": "Last voiced caller audio to end of speech detected.",
    "recognition_final_ms": "End of speech detected to the final transcript.",
    "brain_first_token_ms": "Answer requested to the brain's first text.",
    "synthesis_first_audio_ms": "First clause to its first synthesised audio.",
    "voice_to_voice_ms": "Caller stops speaking to the first agent audio frame on the socket.",
    "barge_in_stop_ms": "Confirmed caller onset to StopAudio on the socket.",
}


class RealtimeMetrics:
    """The worker's metrics (shared by its calls; updated from the event loop only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.timings = {
            name: Histogram(f"{PREFIX}_{name.removesuffix('_ms')}_seconds", help_text)
            for name, help_text in TIMING_HELP.items()
        }
        self.turns = Counter(f"{PREFIX}_turns_total", "Turns completed.")
        self.interrupted_turns = Counter(f"{PREFIX}_interrupted_turns_total", "Turns cut by barge-in.")
        self.broken_frames = Counter(f"{PREFIX}_broken_frames_total", "Inbound media frames dropped as malformed.")
        self.calls = Counter(f"{PREFIX}_calls_total", "Media sessions started.")
        self.call_failures = Counter(f"{PREFIX}_call_failures_total", "Media sessions ended by an error.")
        self.active_calls = 0

    def record_turn(self, timings: TurnTimings, *, interrupted: bool) -> None:
        with self._lock:
            self.turns.inc()
            if interrupted:
                self.interrupted_turns.inc()
            for item in fields(timings):
                value = getattr(timings, item.name)
                if value > 0 and item.name in self.timings:
                    self.timings[item.name].observe(value / 1000)

    def render(self) -> str:
        with self._lock:
            lines: list[str] = []
            for histogram in self.timings.values():
                lines.extend(histogram.render())
            for counter in (self.turns, self.interrupted_turns, self.broken_frames, self.calls, self.call_failures):
                lines.extend(counter.render())
            lines += [
                f"# HELP {PREFIX}_active_calls Media sessions in progress.",
                f"# TYPE {PREFIX}_active_calls gauge",
                f"{PREFIX}_active_calls {self.active_calls}",
            ]
        return "\n".join(lines) + "\n"


def _ms(start: float | None, end: float | None) -> float:
    if start is None or end is None or math.isinf(start) or end < start:
        return 0.0
    return round((end - start) * 1000, 3)


class TurnMetrics:
    """One call's observer: collects the current turn's timings from the frames it sees."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        self.current = TurnTimings()
        self._speech_ended_at: float | None = None
        self._stop_detected_at: float | None = None
        self._response_at: float | None = None
        self._response_id: int | None = None
        self._first_clause_at: float | None = None
        self._have_text = self._have_audio = False

    def on_frame(self, source: str, frame: Frame) -> None:
        t = self.current
        if isinstance(frame, CallerStoppedSpeakingFrame):
            self._speech_ended_at, self._stop_detected_at = frame.speech_ended_at, frame.at
            t.end_of_speech_ms = _ms(frame.speech_ended_at, frame.at)
        elif isinstance(frame, TranscriptFrame) and frame.is_final:
            t.recognition_final_ms = _ms(self._stop_detected_at, frame.at)
        elif isinstance(frame, AgentResponseStartedFrame) and frame.response_id != self._response_id:
            # observers see a frame at every hop: only its first sighting starts the answer
            self._response_id, self._response_at, self._first_clause_at = frame.response_id, frame.at, None
            self._have_text = self._have_audio = False
        elif isinstance(frame, AgentTextFrame) and not self._have_text:
            self._have_text = True
            t.brain_first_token_ms = _ms(self._response_at, self._clock())
        elif isinstance(frame, AgentClauseFrame) and self._first_clause_at is None:
            self._first_clause_at = frame.at
        elif isinstance(frame, AgentAudioFrame) and not self._have_audio:
            self._have_audio = True
            t.synthesis_first_audio_ms = _ms(self._first_clause_at, frame.at)
        elif isinstance(frame, AgentStartedSpeakingFrame):
            t.voice_to_voice_ms = _ms(self._speech_ended_at, frame.at)
        elif isinstance(frame, AgentStoppedSpeakingFrame) and frame.interrupted:
            t.barge_in_stop_ms = _ms(frame.interruption_at, frame.stop_sent_at)

    def take(self) -> TurnTimings:
        """The finished turn's timings; the next turn starts from nothing."""
        timings = self.current
        self._reset()
        return timings

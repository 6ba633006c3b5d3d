"""The benchmark's figures, from the emulator's per-call timelines and the worker's turn timings.

Per call (from `emulators.acs.CallTimeline`; all times are the caller process's `perf_counter`):

- voice onset / offset of a caller utterance: the send time of its first / last 20 ms frame whose RMS
  is at least `SPEECH_DBFS` (-50 dBFS). Not the emulator's own onset/offset (first/last frame with any
  non-zero sample): espeak-ng ends every utterance with about 300 ms of -60..-90 dBFS tail that no
  VAD calls speech, so that offset would flatter voice-to-voice by about 300 ms.
- voice-to-voice (`v2v_ms`): for each clean caller utterance (S1, S2), the caller's voice offset to
  the arrival of the first agent `AudioData` message on the emulator's socket at or after it.
  `v2v_played_ms` is the same to the first agent frame the emulator's playout model played (adds up
  to one 20 ms tick).
- barge-in stop (`barge_in_stop_ms`): the barge-in utterance's (S3) voice onset (send time of its
  first non-zero frame) to the arrival of the first `StopAudio` at or after it.
- frames after stop: agent `AudioData` messages received in [StopAudio, max(StopAudio + 300 ms,
  end of the caller utterance in progress)) (`emulators.acs._media`).
- late frames: underruns of the emulator's playout (an empty 20 ms tick inside an agent segment
  that then resumes within 300 ms).
- sender lag: for caller frame i, send time - (send time of frame 0 + i x 20 ms); p99 and max.

Worker side (from the `TurnTimings` the worker signals with each turn, its `time.monotonic`):
`platform_added_ms` = `voice_to_voice_ms - end_of_speech_ms`, i.e. end of speech detected (the
hangover expired) -> first agent audio frame written to the socket.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from emulators.acs import CallerUtterance, CallTimeline

FRAME_SECONDS = 0.020
FRAME_BYTES_16K = 640
SPEECH_DBFS = -50.0


def speech_span(pcm: bytes, *, frame_bytes: int = FRAME_BYTES_16K, floor_dbfs: float = SPEECH_DBFS) -> tuple[int, int]:
    """(first, last) index of the 20 ms frames of `pcm` (PCM16LE) with RMS >= floor_dbfs."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    per = frame_bytes // 2
    count = -(-len(samples) // per)
    padded = np.zeros(count * per)
    padded[: len(samples)] = samples
    rms = np.sqrt((padded.reshape(count, per) ** 2).mean(axis=1))
    loud = np.nonzero(rms >= 32768 * 10 ** (floor_dbfs / 20))[0]
    if not len(loud):
        return 0, count - 1
    return int(loud[0]), int(loud[-1])


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _first_at_or_after(times: Sequence[float], t: float) -> float | None:
    i = bisect.bisect_left(times, t)  # the timeline appends times in order
    return times[i] if i < len(times) else None


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    data = sorted(v for v in values if v is not None and not math.isnan(v))
    if not data:
        return None
    if len(data) == 1:
        return round(data[0], 3)
    pos = (len(data) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return round(data[lo] + (data[hi] - data[lo]) * (pos - lo), 3)


def sender_lag(frame_times: Sequence[float]) -> tuple[float, float, int]:
    """(p99 ms, max ms, frames later than one frame) of the caller's frame send times."""
    if not frame_times:
        return 0.0, 0.0, 0
    t0 = frame_times[0]
    lags = [max(0.0, t - (t0 + i * FRAME_SECONDS)) * 1000 for i, t in enumerate(frame_times)]
    p99 = percentile(lags, 99) or 0.0
    return round(p99, 3), round(max(lags), 3), sum(1 for lag in lags if lag > FRAME_SECONDS * 1000)


def _voice_times(
    tl: CallTimeline, u: CallerUtterance, span: tuple[int, int] | None
) -> tuple[float | None, float | None]:
    """(onset, offset) send times of an utterance's speech frames (see module docs)."""
    if span is None or u.started_at is None:
        return u.onset_at, u.offset_at
    start = bisect.bisect_left(tl.caller_frame_times, u.started_at)
    first, last = start + span[0], start + span[1]
    times = tl.caller_frame_times
    onset = times[first] if first < len(times) else None
    offset = times[last] if last < len(times) and (u.ended_at is not None) else None
    return onset, offset


def late_frame_times(tl: CallTimeline, *, window: int = 5) -> list[tuple[float, float]]:
    """Each late frame (underrun) as (time since the media opened in s, worst lag in ms of the
    caller's clock over the `window` ticks up to it). The emulator's playout ticks on the caller's
    clock: a tick that ran more than a frame late, then caught up in a burst, can drain the playout
    buffer before the receiver task has read the frames already on the socket, so such a late frame
    is the caller process's, not the worker's."""
    times = tl.caller_frame_times
    if not times:
        return []
    t0 = times[0]
    opened = tl.media_opened_at or t0
    out = []
    for at in tl.underrun_times:
        i = bisect.bisect_left(times, at)
        lags = [times[j] - (t0 + j * FRAME_SECONDS) for j in range(max(0, i - window + 1), min(i + 1, len(times)))]
        out.append((at - opened, round(max(lags, default=0.0) * 1000, 2)))
    return out


def call_metrics(
    tl: CallTimeline,
    *,
    answer_steps: Sequence[int],
    barge_in_step: int,
    speech_spans: Mapping[int, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """One call's figures (see the module docs for the definitions). `speech_spans` maps a script
    step to the (first, last) speech frame of its audio (`speech_span`)."""
    spans = speech_spans or {}
    by_step = {u.step_index: u for u in tl.caller_utterances}
    v2v: list[float] = []
    v2v_played: list[float] = []
    missing_answers = 0
    for step in answer_steps:
        u = by_step.get(step)
        offset = _voice_times(tl, u, spans.get(step))[1] if u is not None else None
        if offset is None:
            missing_answers += 1
            continue
        got = _first_at_or_after(tl.agent_message_times, offset)
        played = _first_at_or_after(tl.played_frame_times, offset)
        if got is None:
            missing_answers += 1
            continue
        v2v.append(_ms(got - offset))
        if played is not None:
            v2v_played.append(_ms(played - offset))
    barge_in_stop: float | None = None
    v2v_after_barge_in: float | None = None
    barge = by_step.get(barge_in_step)
    onset, offset = _voice_times(tl, barge, spans.get(barge_in_step)) if barge is not None else (None, None)
    if onset is not None:
        stop = _first_at_or_after(tl.stop_audio_times, onset)
        if stop is not None:
            barge_in_stop = _ms(stop - onset)
            if offset is not None and stop <= offset:
                got = _first_at_or_after(tl.agent_message_times, offset)
                if got is not None:
                    v2v_after_barge_in = _ms(got - offset)
    lag_p99, lag_max, lagged_frames = sender_lag(tl.caller_frame_times)
    late_times = late_frame_times(tl)
    media_seconds = 0.0
    if tl.media_opened_at is not None and tl.media_closed_at is not None:
        media_seconds = tl.media_closed_at - tl.media_opened_at
    return {
        "v2v_ms": v2v,
        "v2v_played_ms": v2v_played,
        "v2v_after_barge_in_ms": v2v_after_barge_in,
        "missing_answers": missing_answers,
        "barge_in_stop_ms": barge_in_stop,
        "stops": len(tl.stops),
        "frames_after_stop": tl.frames_after_stop,
        "late_frames": tl.late_frames,
        "late_frames_caller_lag": sum(1 for _, lag in late_times if lag > FRAME_SECONDS * 1000),
        "late_frame_at": [round(t, 3) for t, _ in late_times],
        "agent_frames_played": len(tl.played_frame_times),
        "agent_messages": len(tl.agent_message_times),
        "caller_frames_sent": tl.caller_frames_sent,
        "sender_lag_p99_ms": lag_p99,
        "sender_lag_max_ms": lag_max,
        "sender_lagged_frames": lagged_frames,
        "media_seconds": round(media_seconds, 3),
        "script_timeouts": list(tl.script_timeouts),
        "malformed_messages": tl.malformed_messages,
    }


def summarize_turns(turns: Sequence[dict[str, Any]], *, hangover_ms: float) -> dict[str, Any]:
    """The worker's own turn timings: caller turns only (the greeting has no caller speech)."""
    answered = [t for t in turns if t.get("voice_to_voice_ms", 0) > 0 and t.get("end_of_speech_ms", 0) > 0]
    added = [t["voice_to_voice_ms"] - t["end_of_speech_ms"] for t in answered]
    v2v = [t["voice_to_voice_ms"] for t in answered]
    eos = [t["end_of_speech_ms"] for t in answered]
    barge = [t["barge_in_stop_ms"] for t in turns if t.get("barge_in_stop_ms", 0) > 0]
    return {
        "turns": len(turns),
        "answered_turns": len(answered),
        "interrupted_turns": sum(1 for t in turns if t.get("interrupted")),
        "v2v_ms_p50": percentile(v2v, 50),
        "v2v_ms_p95": percentile(v2v, 95),
        "end_of_speech_ms_p50": percentile(eos, 50),
        "end_of_speech_ms_p95": percentile(eos, 95),
        "platform_added_ms_p50": percentile(added, 50),
        "platform_added_ms_p95": percentile(added, 95),
        "platform_added_ms_max": percentile(added, 100),
        "v2v_minus_hangover_ms_p95": percentile([v - hangover_ms for v in v2v], 95),
        "recognition_final_ms_p50": percentile([t["recognition_final_ms"] for t in answered], 50),
        "brain_first_token_ms_p50": percentile([t["brain_first_token_ms"] for t in answered], 50),
        "synthesis_first_audio_ms_p50": percentile([t["synthesis_first_audio_ms"] for t in answered], 50),
        "confirmed_barge_in_stop_ms_p50": percentile(barge, 50),
        "confirmed_barge_in_stop_ms_p95": percentile(barge, 95),
    }

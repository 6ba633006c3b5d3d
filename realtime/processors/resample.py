"""Resamples the caller's audio from the carrier's rate to the pipeline's rate (soxr, streaming)."""

from __future__ import annotations

from dataclasses import replace

from realtime.audio import StreamingResampler
from realtime.frames import CallerAudioFrame, Frame
from realtime.processors.base import FrameProcessor


class InputResampler(FrameProcessor):
    def __init__(self, *, target_rate: int) -> None:
        super().__init__()
        self.target_rate = target_rate
        self._resampler: StreamingResampler | None = None

    async def process_frame(self, frame: Frame) -> None:
        if not isinstance(frame, CallerAudioFrame) or frame.sample_rate == self.target_rate:
            await self.push_frame(frame)
            return
        if self._resampler is None or self._resampler.in_rate != frame.sample_rate:
            self._resampler = StreamingResampler(frame.sample_rate, self.target_rate)
        pcm = self._resampler.resample(frame.pcm)
        if pcm:
            await self.push_frame(replace(frame, pcm=pcm, sample_rate=self.target_rate))

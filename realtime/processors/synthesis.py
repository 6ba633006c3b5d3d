"""Speech synthesis: streams each clause's audio from the `Synthesizer` as `AgentAudioFrame`s at the
carrier's rate (soxr streaming resampler), then marks the clause's audio complete."""

from __future__ import annotations

import time

from realtime.audio import StreamingResampler
from realtime.engines.base import Synthesizer
from realtime.frames import AgentAudioFrame, AgentClauseAudioEndFrame, AgentClauseFrame, Frame
from realtime.processors.base import FrameProcessor, closing_stream


class SpeechSynthesis(FrameProcessor):
    clears_on_interruption = True

    def __init__(self, *, synthesizer: Synthesizer, output_rate: int, voice: str | None = None) -> None:
        super().__init__()
        self._synthesizer = synthesizer
        self.output_rate = output_rate
        self.voice = voice

    async def process_frame(self, frame: Frame) -> None:
        if not isinstance(frame, AgentClauseFrame):
            await self.push_frame(frame)
            return
        resampler = StreamingResampler(self._synthesizer.sample_rate, self.output_rate)
        async with closing_stream(self._synthesizer.synthesize(frame.text, voice=self.voice)) as chunks:
            async for chunk in chunks:
                await self._push_audio(frame, resampler.resample(chunk))
        await self._push_audio(frame, resampler.flush())
        await self.push_frame(AgentClauseAudioEndFrame(response_id=frame.response_id, clause_id=frame.clause_id))

    async def _push_audio(self, clause: AgentClauseFrame, pcm: bytes) -> None:
        if pcm:
            await self.push_frame(
                AgentAudioFrame(
                    pcm=pcm,
                    sample_rate=self.output_rate,
                    response_id=clause.response_id,
                    clause_id=clause.clause_id,
                    text=clause.text,
                    at=time.monotonic(),
                )
            )

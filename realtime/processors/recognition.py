"""Speech recognition: one `RecognitionStream` per utterance, opened at speech onset with the
audio just before it (pre-roll), fed as audio arrives, finished at end of speech.

Consumes caller audio; emits `TranscriptFrame`s (partials when the engine has them, one final).
The grammar for each utterance comes from the brain (`expected_grammar()`), through a callable.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from realtime.audio import StreamingResampler
from realtime.engines.base import Grammar, RecognitionStream, Recognizer
from realtime.frames import (
    CallerAudioFrame,
    CallerStartedSpeakingFrame,
    CallerStoppedSpeakingFrame,
    Frame,
    TranscriptFrame,
)
from realtime.processors.base import FrameProcessor


class SpeechRecognition(FrameProcessor):
    def __init__(
        self,
        *,
        recognizer: Recognizer,
        sample_rate: int,
        grammar: Callable[[], Grammar | None] = lambda: None,
        preroll_ms: int = 300,
    ) -> None:
        super().__init__()
        self._recognizer = recognizer
        self._grammar = grammar
        self._rate = sample_rate
        self._preroll: deque[bytes] = deque(maxlen=max(1, preroll_ms // 20))
        self._stream: RecognitionStream | None = None
        self._resampler: StreamingResampler | None = None
        self._last_partial = ""

    async def process_frame(self, frame: Frame) -> None:
        if isinstance(frame, CallerAudioFrame):
            if self._stream is not None:
                await self._feed(self._stream, frame.pcm)
            else:
                self._preroll.append(frame.pcm)
            return
        if isinstance(frame, CallerStartedSpeakingFrame):
            await self._open()
        elif isinstance(frame, CallerStoppedSpeakingFrame):
            await self.push_frame(frame)
            await self._finish()
            return
        await self.push_frame(frame)

    async def _open(self) -> None:
        if self._stream is not None:
            return
        self._stream = self._recognizer.open_stream(grammar=self._grammar())
        self._resampler = StreamingResampler(self._rate, self._recognizer.sample_rate)
        self._last_partial = ""
        preroll = b"".join(self._preroll)
        self._preroll.clear()
        if preroll:
            await self._feed(self._stream, preroll)

    async def _feed(self, stream: RecognitionStream, pcm: bytes) -> None:
        assert self._resampler is not None
        await stream.feed(self._resampler.resample(pcm))
        partial = stream.partial()
        if partial is not None and partial.text and partial.text != self._last_partial:
            self._last_partial = partial.text
            await self.push_frame(TranscriptFrame(text=partial.text, is_final=False, at=time.monotonic()))

    async def _finish(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            result = await stream.finish()
        finally:
            await stream.aclose()
        await self.push_frame(
            TranscriptFrame(
                text=result.text.strip(), is_final=True, at=time.monotonic(), confidence=result.confidence
            )
        )

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

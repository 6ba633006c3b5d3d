"""Voice activity detection (webrtcvad) with an onset guard, a hangover and an echo guard.

- A frame is voiced when webrtcvad says so and it is louder than `min_dbfs` (webrtcvad smooths
  its decisions over ~100 ms, so without the floor a 60 ms click reads as 160 ms of speech).
- Onset: `min_speech_ms` of (net) voiced audio before `CallerStartedSpeakingFrame`.
- End of speech: `hangover_ms` without voiced audio, then `CallerStoppedSpeakingFrame`.
- While the agent's audio is playing (`conversation.agent_speaking`), a frame only counts as voiced
  if it is also louder than `barge_in_min_dbfs`, and the onset needs `barge_in_min_speech_ms`:
  a caller interrupting speaks up, while echo of our own voice leaking back from a handset or a
  speakerphone arrives attenuated. Frames ACS flags `silent` are never speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import webrtcvad

from realtime.audio import Reframer, frame_bytes, rms_dbfs
from realtime.conversation import Conversation
from realtime.frames import CallerAudioFrame, CallerStartedSpeakingFrame, CallerStoppedSpeakingFrame, Frame
from realtime.processors.base import FrameProcessor

VAD_FRAME_MS = 20


@dataclass(frozen=True)
class VadConfig:
    aggressiveness: int = 2
    min_speech_ms: int = 120
    hangover_ms: int = 400
    min_dbfs: float = -55.0
    barge_in_min_speech_ms: int = 100
    barge_in_min_dbfs: float = -40.0


class VoiceActivityDetector(FrameProcessor):
    def __init__(self, *, sample_rate: int, conversation: Conversation, config: VadConfig = VadConfig()):
        super().__init__()
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"webrtcvad cannot run at {sample_rate} Hz")
        self.config = config
        self._conversation = conversation
        self._vad = webrtcvad.Vad(config.aggressiveness)
        self._rate = sample_rate
        self._reframer = Reframer(frame_bytes(sample_rate, VAD_FRAME_MS))
        self._speaking = False
        self._voiced_ms = 0  # net voiced time while waiting for an onset
        self._silence_ms = 0  # unvoiced time while speaking
        self._first_voiced_at = 0.0
        self._last_voiced_at = 0.0

    async def process_frame(self, frame: Frame) -> None:
        await self.push_frame(frame)  # recognition wants every frame (pre-roll, utterance audio)
        if not isinstance(frame, CallerAudioFrame):
            return
        for chunk in self._reframer.push(frame.pcm):
            await self._step(self._is_voiced(chunk, frame.silent), frame.received_at)

    def _is_voiced(self, chunk: bytes, silent: bool) -> bool:
        if silent or not self._vad.is_speech(chunk, self._rate):
            return False
        floor = self.config.barge_in_min_dbfs if self._conversation.agent_speaking else self.config.min_dbfs
        return rms_dbfs(chunk) >= floor

    async def _step(self, voiced: bool, at: float) -> None:
        if self._speaking:
            if voiced:
                self._silence_ms, self._last_voiced_at = 0, at
                return
            self._silence_ms += VAD_FRAME_MS
            if self._silence_ms >= self.config.hangover_ms:
                self._speaking, self._voiced_ms = False, 0
                await self.push_frame(CallerStoppedSpeakingFrame(at=at, speech_ended_at=self._last_voiced_at))
            return
        if voiced:
            if self._voiced_ms == 0:
                self._first_voiced_at = at
            self._voiced_ms += VAD_FRAME_MS
            self._last_voiced_at = at
        else:
            self._voiced_ms = max(0, self._voiced_ms - VAD_FRAME_MS)
        during_agent = self._conversation.agent_speaking
        needed = self.config.barge_in_min_speech_ms if during_agent else self.config.min_speech_ms
        if self._voiced_ms >= needed:
            self._speaking, self._silence_ms = True, 0
            await self.push_frame(
                CallerStartedSpeakingFrame(
                    at=at, speech_started_at=self._first_voiced_at, during_agent_speech=during_agent
                )
            )

"""The media session with the embedded engines (PocketSphinx, espeak-ng, the scripted FNOL brain)
over a real WebSocket: the pipeline works with the real engines, not only with fakes."""

from __future__ import annotations

import pytest

from realtime.engines.espeak_synthesizer import EspeakSynthesizer
from realtime.engines.pocketsphinx_recognizer import PocketsphinxRecognizer
from realtime.engines.scripted_brain import ScriptedBrainFactory
from switchboard.speech import render_speech
from tests.realtime.acs_caller import FakeAcsCaller
from tests.realtime.test_session_e2e import worker


@pytest.mark.parametrize("rate", [24000])  # 16 kHz is covered with fakes; 24 kHz adds resampling
async def test_embedded_engines_greet_and_answer_a_caller(rate: int) -> None:
    recognizer = PocketsphinxRecognizer(max_workers=2)
    async with worker(
        recognizer=recognizer,  # type: ignore[arg-type]
        brains=ScriptedBrainFactory(),  # type: ignore[arg-type]
        synthesizer=EspeakSynthesizer(sample_rate=rate),  # type: ignore[arg-type]
    ) as w:
        async with FakeAcsCaller(w.url(f"call-embedded-{rate}"), sample_rate=rate) as caller:
            await w.sender.wait_for(lambda: len(w.turns(f"call-embedded-{rate}")) == 1, within=30)
            caller.say(render_speech("My name is John Smith", sample_rate=rate))
            await w.sender.wait_for(lambda: len(w.turns(f"call-embedded-{rate}")) == 2, within=30)
            assert all(len(frame.pcm) == rate // 50 * 2 for frame in caller.audio())
        greeting, answer = w.turns(f"call-embedded-{rate}")
        assert greeting.agent_text and not greeting.interrupted
        assert answer.caller_text and answer.agent_text
        assert 0 < answer.timings.voice_to_voice_ms < 1500

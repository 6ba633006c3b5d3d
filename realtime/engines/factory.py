"""Choose the engines a worker uses from settings."""

from __future__ import annotations

from realtime.engines.base import BrainFactory, Engines, Recognizer, Synthesizer
from switchboard.settings import Settings

__all__ = ["Engines", "build_engines", "synthesis_rate"]

def synthesis_rate(settings: Settings) -> int:
    """Synthesise at the rate ACS streams, so no resampling is needed on the way out."""
    return 24000 if settings.acs.audio_format == "pcm24KMono" else 16000


def build_engines(settings: Settings) -> Engines:
    """Engines by `settings.speech.recognizer`, `settings.speech.synthesizer` and `settings.llm.brain`.
    Imports are lazy so a deployment only loads the SDKs it uses."""
    speech = settings.speech
    recognizer: Recognizer
    synthesizer: Synthesizer
    brain_factory: BrainFactory
    if speech.recognizer == "azure":
        from realtime.engines.azure_speech import AzureRecognizer

        recognizer = AzureRecognizer(speech)
    else:
        from realtime.engines.pocketsphinx_recognizer import PocketsphinxRecognizer

        recognizer = PocketsphinxRecognizer()
    if speech.synthesizer == "azure":
        from realtime.engines.azure_speech import AzureSynthesizer

        synthesizer = AzureSynthesizer(speech, sample_rate=synthesis_rate(settings))
    else:
        from realtime.engines.espeak_synthesizer import EspeakSynthesizer

        synthesizer = EspeakSynthesizer(sample_rate=synthesis_rate(settings), voice=speech.voice)
    if settings.llm.brain == "openai":
        from realtime.engines.openai_brain import OpenAIBrainFactory

        brain_factory = OpenAIBrainFactory.from_settings(settings.llm)
    else:
        from realtime.engines.scripted_brain import ScriptedBrainFactory

        brain_factory = ScriptedBrainFactory()
    return Engines(recognizer=recognizer, synthesizer=synthesizer, brains=brain_factory, voice=speech.voice)

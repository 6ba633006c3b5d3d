"""Choose the engines a worker uses from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from realtime.engines.base import BrainFactory, Engines, Recognizer, Synthesizer
from switchboard.settings import Settings

if TYPE_CHECKING:
    from realtime.engines.openai_brain import AgentProfile

__all__ = ["Engines", "build_engines", "synthesis_rate"]


def synthesis_rate(settings: Settings) -> int:
    """Synthesise at the rate ACS streams, so no resampling is needed on the way out."""
    return 24000 if settings.acs.audio_format == "pcm24KMono" else 16000


def agent_profiles(settings: Settings) -> dict[str, AgentProfile]:
    """Per-agent routes for the OpenAI brain from the agents' YAML: instructions, business tools,
    handoff targets, and the conversation model (an Azure deployment name), so a cheaper model can
    serve a simple agent. Agents without a conversation model use `llm.model`."""
    from agents.config import load_scenario
    from realtime.engines.openai_brain import BUSINESS_TOOL_SPECS, AgentProfile

    scenario = load_scenario(settings.agents.config_dir, scenario=settings.agents.scenario)
    return {
        name: AgentProfile(
            instructions=agent.instructions,
            model=agent.models.get("conversation"),
            tools=tuple(BUSINESS_TOOL_SPECS[tool] for tool in agent.tools),
            handoff_targets=scenario.handoffs.get(name, ()),
            transfer_target=agent.transfer_target,
        )
        for name, agent in scenario.agents.items()
    }


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

        brain_factory = OpenAIBrainFactory.from_settings(settings.llm, agents=agent_profiles(settings))
    else:
        from realtime.engines.scripted_brain import ScriptedBrainFactory

        brain_factory = ScriptedBrainFactory()
    return Engines(recognizer=recognizer, synthesizer=synthesizer, brains=brain_factory, voice=speech.voice)

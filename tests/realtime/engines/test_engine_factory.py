"""build_engines selects engines by settings; the fakes honour the interfaces and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from realtime.engines.azure_speech import AzureRecognizer, AzureSynthesizer
from realtime.engines.base import BrainContext, EndCallRequested, Recognizer, Synthesizer, TextDelta, ToolCallRequested
from realtime.engines.espeak_synthesizer import EspeakSynthesizer
from realtime.engines.factory import build_engines
from realtime.engines.fake import FakeBrainFactory, FakeRecognizer, FakeSynthesizer
from realtime.engines.openai_brain import OpenAIBrainFactory
from realtime.engines.pocketsphinx_recognizer import PocketsphinxRecognizer
from realtime.engines.scripted_brain import ScriptedBrainFactory
from switchboard.settings import AcsSettings, LlmSettings, Settings, SpeechSettings


def test_defaults_are_the_embedded_engines() -> None:
    engines = build_engines(Settings())
    assert isinstance(engines.recognizer, PocketsphinxRecognizer)
    assert isinstance(engines.synthesizer, EspeakSynthesizer) and engines.synthesizer.sample_rate == 16000
    assert isinstance(engines.brains, ScriptedBrainFactory)


async def test_azure_and_openai_are_selected_by_settings() -> None:
    settings = Settings(
        acs=AcsSettings(audio_format="pcm24KMono"),
        speech=SpeechSettings(recognizer="azure", synthesizer="azure", azure_key=SecretStr("k"), azure_region="westus"),
        llm=LlmSettings(brain="openai", base_url="http://127.0.0.1:9/v1", model="gpt-test"),
    )
    engines = build_engines(settings)
    assert isinstance(engines.recognizer, AzureRecognizer)
    assert isinstance(engines.synthesizer, AzureSynthesizer) and engines.synthesizer.sample_rate == 24000
    assert isinstance(engines.brains, OpenAIBrainFactory)
    assert engines.brains.default_model == "gpt-test"
    await engines.brains.aclose()


class Tools:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append(name)
        return {"ok": True}


async def test_fake_recognizer_returns_scripted_texts_in_order() -> None:
    rec = FakeRecognizer(["yes", "my name is jane"])
    assert isinstance(rec, Recognizer)
    texts = []
    for _ in range(3):
        stream = rec.open_stream()
        await stream.feed(b"\0" * 640)
        assert stream.partial() is not None
        texts.append((await stream.finish()).text)
        await stream.aclose()
    assert texts == ["yes", "my name is jane", "yes"]


async def test_fake_synthesizer_yields_the_requested_audio_and_stops_when_closed() -> None:
    synth = FakeSynthesizer(sample_rate=24000, duration_ms=200, chunk_ms=20)
    assert isinstance(synth, Synthesizer)
    chunks = [c async for c in synth.synthesize("hello")]
    assert len(chunks) == 10 and all(len(c) == 960 for c in chunks)
    stream = synth.synthesize("hello")
    await anext(stream)
    await stream.aclose()
    with_cancel = asyncio.create_task(_drain(synth))
    await asyncio.sleep(0)
    with_cancel.cancel()
    assert (await asyncio.gather(with_cancel, return_exceptions=True))[0].__class__ is asyncio.CancelledError


async def _drain(synth: FakeSynthesizer) -> None:
    async for _ in synth.synthesize("x" * 1000):
        pass


async def test_fake_brain_greets_answers_runs_its_tool_and_ends() -> None:
    tools = Tools()
    brain = FakeBrainFactory(replies=["Sure thing."], end_after=2, tool=("file_claim", {})).new_brain(
        call_id="c", agent="a", tools=tools
    )
    ctx = BrainContext(call_id="c", agent="a")
    greeting = [e async for e in brain.greet(ctx)]
    assert all(isinstance(e, TextDelta) for e in greeting)
    first = [e async for e in brain.respond("hi", ctx)]
    assert isinstance(first[0], ToolCallRequested) and tools.calls == ["file_claim"]
    second = [e async for e in brain.respond("bye", ctx)]
    assert isinstance(second[-1], EndCallRequested)


async def test_each_agent_routes_to_the_model_its_yaml_names() -> None:
    from emulators.openai_server import OpenAIServer, Reply
    from realtime.engines.base import BrainContext

    async with OpenAIServer(script=[Reply(content="Hello."), Reply(content="Hi.")]) as srv:
        settings = Settings(llm=LlmSettings(brain="openai", base_url=srv.base_url, model="fallback-model"))
        engines = build_engines(settings)
        for agent in ("claims-specialist", "authentication"):
            brain = engines.brains.new_brain(call_id="c1", agent=agent, tools=Tools())
            async for _ in brain.greet(BrainContext(call_id="c1", agent=agent)):
                pass
        await engines.brains.aclose()  # type: ignore[attr-defined]
    # claims-specialist.yaml routes to gpt-4o, authentication.yaml to the cheaper gpt-4o-mini.
    assert [r.body["model"] for r in srv.requests] == ["gpt-4o", "gpt-4o-mini"]
    tools = {t["function"]["name"] for t in srv.requests[1].body["tools"]}
    assert "verify_identity" in tools and "file_claim" not in tools

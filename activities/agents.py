"""The agents' configuration, as the call workflow needs it: the handoff graph (loaded and validated
when the worker starts; workflow code never reads files)."""

from __future__ import annotations

from temporalio import activity

from agents import Scenario
from workflows.contracts import AgentScenario


class AgentActivities:
    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario

    @activity.defn(name="agent_scenario")
    async def agent_scenario(self) -> AgentScenario:
        return AgentScenario(entry=self._scenario.entry, handoffs=self._scenario.graph())

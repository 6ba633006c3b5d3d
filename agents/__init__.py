"""Agents as configuration: one YAML file per agent and a scenario graph of allowed handoffs."""

from agents.config import AgentConfig, AgentConfigError, Scenario, load_scenario

__all__ = ["AgentConfig", "AgentConfigError", "Scenario", "load_scenario"]

"""Loading and validating agent configuration at start-up.

`definitions/<name>.yaml` describes one agent (instructions, voice, tools, transfer target, model
per task); `scenario.yaml` names the entry agent and the allowed handoffs. Anything wrong fails the
process's start with the file and the field at fault (`AgentConfigError`). Adding an agent is adding
a file and an edge in the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

DEFAULT_DIR = Path(__file__).parent
KNOWN_TOOLS = frozenset({"file_claim", "verify_identity", "find_slots", "book_appointment"})
MODEL_TASKS = frozenset({"conversation", "summary", "extraction"})


class AgentConfigError(ValueError):
    """A configuration file is wrong: `path` and `field` say where."""

    def __init__(self, path: Path, field_name: str, message: str) -> None:
        super().__init__(f"{path}: {field_name}: {message}")
        self.path = path
        self.field = field_name


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    instructions: str
    voice: str = ""
    tools: tuple[str, ...] = ()
    transfer_target: str = "claims-agents"
    models: dict[str, str] = {}

    @field_validator("instructions")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - KNOWN_TOOLS)
        if unknown:
            raise ValueError(f"unknown tools {unknown}; known: {sorted(KNOWN_TOOLS)}")
        return value

    @field_validator("models")
    @classmethod
    def _known_tasks(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - MODEL_TASKS)
        if unknown:
            raise ValueError(f"unknown model tasks {unknown}; known: {sorted(MODEL_TASKS)}")
        return value


@dataclass(frozen=True)
class Scenario:
    entry: str
    agents: Mapping[str, AgentConfig]
    handoffs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def allows(self, source: str, target: str) -> bool:
        return target in self.handoffs.get(source, ())

    def graph(self) -> dict[str, list[str]]:
        """The handoff graph as plain data (what the call workflow is given)."""
        return {name: list(self.handoffs.get(name, ())) for name in self.agents}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AgentConfigError(path, "(file)", f"cannot be read: {err}") from err
    except yaml.YAMLError as err:
        raise AgentConfigError(path, "(file)", f"is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise AgentConfigError(path, "(file)", "must be a mapping")
    return data


def _field_path(location: tuple[int | str, ...]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def load_agent(path: Path) -> AgentConfig:
    try:
        agent = AgentConfig.model_validate(_read_yaml(path))
    except ValidationError as err:
        first = err.errors()[0]
        raise AgentConfigError(path, _field_path(tuple(first["loc"])), first["msg"]) from err
    if agent.name != path.stem:
        raise AgentConfigError(path, "name", f"{agent.name!r} does not match the file name {path.stem!r}")
    return agent


def load_scenario(directory: Path | None = None, *, scenario: str | None = None) -> Scenario:
    """Every agent in `directory/definitions` and a graph, validated: `directory/scenario.yaml`, or
    `directory/scenarios/<scenario>.yaml` when a scenario is named (e.g. "healthcare")."""
    directory = directory or DEFAULT_DIR
    agents = {path.stem: load_agent(path) for path in sorted((directory / "definitions").glob("*.yaml"))}
    scenario_path = directory / "scenarios" / f"{scenario}.yaml" if scenario else directory / "scenario.yaml"
    data = _read_yaml(scenario_path)
    unknown = sorted(set(data) - {"entry", "handoffs"})
    if unknown:
        raise AgentConfigError(scenario_path, unknown[0], "unknown field")
    entry = data.get("entry")
    if not isinstance(entry, str) or entry not in agents:
        raise AgentConfigError(scenario_path, "entry", f"{entry!r} is not an agent in {directory / 'definitions'}")
    raw = data.get("handoffs") or {}
    if not isinstance(raw, dict):
        raise AgentConfigError(scenario_path, "handoffs", "must map an agent to the agents it may hand off to")
    handoffs: dict[str, tuple[str, ...]] = {}
    for source, targets in raw.items():
        where = f"handoffs.{source}"
        if source not in agents:
            raise AgentConfigError(scenario_path, where, f"{source!r} is not an agent")
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise AgentConfigError(scenario_path, where, "must be a list of agent names")
        for index, target in enumerate(targets):
            if target not in agents:
                raise AgentConfigError(scenario_path, f"{where}[{index}]", f"{target!r} is not an agent")
            if target == source:
                raise AgentConfigError(scenario_path, f"{where}[{index}]", "an agent cannot hand off to itself")
        handoffs[source] = tuple(targets)
    return Scenario(entry=entry, agents=agents, handoffs=handoffs)

"""Agents as configuration: the packaged agents load; a wrong file fails with its path and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents import AgentConfigError, load_scenario
from agents.config import DEFAULT_DIR


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    target = tmp_path / "agents"
    shutil.copytree(DEFAULT_DIR / "definitions", target / "definitions")
    shutil.copy(DEFAULT_DIR / "scenario.yaml", target / "scenario.yaml")
    return target


def test_the_packaged_agents_and_scenario_load() -> None:
    scenario = load_scenario()
    assert scenario.entry == "authentication"
    assert {"authentication", "default", "support", "claims-specialist", "claims-follow-up"} <= set(scenario.agents)
    assert scenario.allows("authentication", "default") and scenario.allows("default", "support")
    assert not scenario.allows("authentication", "claims-specialist")
    assert scenario.agents["authentication"].tools == ("verify_identity",)
    assert scenario.allows("default", "claims-specialist") and not scenario.allows("default", "claims-follow-up")
    assert scenario.agents["default"].tools == ("file_claim",)


def test_the_healthcare_scenario_loads_from_its_own_file() -> None:
    scenario = load_scenario(scenario="healthcare")
    assert scenario.entry == "appointments"
    assert scenario.allows("appointments", "support") and not scenario.allows("appointments", "default")
    assert scenario.agents["appointments"].tools == ("find_slots", "book_appointment")
    assert scenario.agents["appointments"].transfer_target == "clinic-reception"


def test_a_wrong_second_scenario_names_its_file_and_field(agents_dir: Path) -> None:
    (agents_dir / "scenarios").mkdir()
    bad = agents_dir / "scenarios" / "clinic.yaml"
    bad.write_text("entry: default\nhandoffs:\n  default: [dentist]\n")
    with pytest.raises(AgentConfigError) as err:
        load_scenario(agents_dir, scenario="clinic")
    assert err.value.path == bad and err.value.field == "handoffs.default[0]"


def test_adding_an_agent_is_adding_a_file_and_an_edge(agents_dir: Path) -> None:
    (agents_dir / "definitions" / "glass.yaml").write_text("name: glass\ninstructions: Windscreen claims.\n")
    scenario_file = agents_dir / "scenario.yaml"
    scenario_file.write_text(
        scenario_file.read_text().replace(
            "default: [claims-specialist, support]", "default: [claims-specialist, support, glass]"
        )
    )
    assert load_scenario(agents_dir).allows("default", "glass")


@pytest.mark.parametrize(
    ("file", "text", "field", "message"),
    [
        (
            "definitions/default.yaml",
            "name: default\ninstructions: hi\ntools: [wire_money]\n",
            "tools",
            "unknown tools",
        ),
        ("definitions/default.yaml", "name: default\n", "instructions", "Field required"),
        ("definitions/default.yaml", "name: default\ninstructions: hi\nvoise: x\n", "voise", "Extra inputs"),
        ("definitions/default.yaml", "name: other\ninstructions: hi\n", "name", "does not match"),
        ("definitions/default.yaml", "name: [unclosed\n", "(file)", "not valid YAML"),
        ("scenario.yaml", "entry: nobody\nhandoffs: {}\n", "entry", "not an agent"),
        (
            "scenario.yaml",
            "entry: default\nhandoffs:\n  default: [ghost]\n",
            "handoffs.default[0]",
            "'ghost' is not an agent",
        ),
        ("scenario.yaml", "entry: default\nhandoffs:\n  default: [default]\n", "handoffs.default[0]", "itself"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(
    agents_dir: Path, file: str, text: str, field: str, message: str
) -> None:
    (agents_dir / file).write_text(text)
    with pytest.raises(AgentConfigError) as error:
        load_scenario(agents_dir)
    assert error.value.path == agents_dir / file and error.value.field == field
    assert message in str(error.value) and str(agents_dir / file) in str(error.value)

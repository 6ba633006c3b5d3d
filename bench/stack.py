"""What the stack benchmarks share: the supervised multi-process stack (as `switchboard dev` runs it)
on a block of loopback ports, with the ACS emulator in the benchmark's own process so its clock
times both ends, and recording headline figures in `docs/benchmarks.json`."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.acs import AcsEmulator
from emulators.acs.emulator import EmulatorOptions
from switchboard.settings import Settings
from workers.supervisor import Supervisor, build_stack

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "benchmarks.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


def bench_settings(data_dir: Path, base_port: int) -> Settings:
    """Settings for a stack on 7 consecutive loopback ports from `base_port`."""
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "temporal": {
                "address": f"127.0.0.1:{base_port}",
                "ui_port": base_port + 1,
                "worker_health_port": base_port + 2,
            },
            "redis": {"url": f"redis://127.0.0.1:{base_port + 3}/0"},
            "acs": {
                "endpoint": f"http://127.0.0.1:{base_port + 4}",
                "callback_base_url": f"http://127.0.0.1:{base_port + 5}",
                "media_base_url": f"ws://127.0.0.1:{base_port + 6}",
            },
            "api": {"port": base_port + 5},
            "realtime": {"port": base_port + 6},
        }
    )


@dataclass
class BenchStack:
    settings: Settings
    supervisor: Supervisor
    emulator: AcsEmulator


@asynccontextmanager
async def bench_stack(base_port: int, **overrides: Any) -> AsyncIterator[BenchStack]:
    """The supervised stack in a temporary data folder, and the emulator. `overrides` are settings
    groups to merge (e.g. `realtime={"watchdog_heartbeat_timeout_seconds": 2}`)."""
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        settings = bench_settings(Path(tmp) / "data", base_port)
        for group, values in overrides.items():
            setattr(settings, group, getattr(settings, group).model_copy(update=values))
        supervisor = Supervisor(
            build_stack(settings, with_emulator=False), log_dir=Path(tmp) / "logs", report=lambda line: None
        )
        async with supervisor:
            emulator = AcsEmulator(
                access_key=settings.acs.access_key.get_secret_value(),
                event_grid_url=f"{settings.acs.callback_base_url}/api/events/eventgrid",
                port=base_port + 4,
                options=EmulatorOptions(keep_audio=False),
            )
            # The supervisor restarts a crashed worker only while someone watches the children.
            watching = asyncio.create_task(supervisor.wait(), name="bench-supervisor")
            try:
                async with emulator:
                    yield BenchStack(settings=settings, supervisor=supervisor, emulator=emulator)
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)


def record_figures(figures: Mapping[str, float | int]) -> None:
    """Merge headline figures into `docs/benchmarks.json`."""
    recorded = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    recorded.update(figures)
    FIGURES.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")

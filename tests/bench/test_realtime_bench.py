"""The realtime benchmark harness end to end, small: 2 calls, fake engines, a short script.

Checks that the report has its fields and sane values, not the timing targets (those are
benchmarks, see docs/BENCHMARKS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import realtime


def test_two_fake_calls_give_a_complete_report() -> None:
    argv = ["--engines", "fake", "--calls", "2", "--spread", "0.2", "--script", "short", "--max-call-seconds", "20"]
    report = realtime.run(realtime.parse_args(argv), argv)

    (step,) = report["steps"]
    assert step["engines"] == "fake" and step["calls"] == 2
    assert step["completed_calls"] == 2 and step["failed_calls"] == 0, step["failures"]
    assert step["answer_errors"] == []
    # one clean turn per call (the short script): voice-to-voice includes the 400 ms hangover, and is not absurd
    assert step["v2v_ms_p50"] is not None and 300 < step["v2v_ms_p50"] < 1500
    assert step["barge_in_stop_ms_p50"] is not None and 0 < step["barge_in_stop_ms_p95"] < 1500
    assert step["stops"] >= 2
    assert step["frames_after_stop"] >= 0 and step["late_frames"] >= 0
    assert step["agent_frames_played"] > 50
    turns = step["worker_turns"]
    assert turns["answered_turns"] >= 2
    assert turns["platform_added_ms_p95"] is not None and 0 <= turns["platform_added_ms_p95"] < 500
    assert step["worker_signals"]["media_attached"] == 2 and step["worker_signals"]["call_ended"] == 2
    assert step["worker_cpu_seconds"] > 0 and 0 < step["worker_cpu_ms_per_call_second"] < 1000
    assert step["worker_rss_peak_mb"] >= step["worker_rss_base_mb"] > 10
    assert step["rss_mb_per_call"] is not None and step["rss_mb_per_call"] >= 0
    assert step["sender_lag_max_ms"] >= 0 and step["caller_procs"] == 1

    figures = report["figures"]
    for key in (
        "calls_per_core_platform",
        "platform_added_ms_p95",
        "rss_mb_per_call_platform",
        "barge_in_stop_p95_ms",
        "frames_after_stop",
        "late_frames_platform",
    ):
        assert key in figures
    assert set(report["verdicts"]) == set(realtime.TARGETS)
    assert report["machine"]["nproc"] >= 1
    json.dumps(report)  # serialisable as the --json report
    section = realtime.render_section(report)
    assert section.startswith(realtime.SECTION) and "| 2 |" in section


def test_docs_are_merged_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs_json = tmp_path / "benchmarks.json"
    docs_md = tmp_path / "BENCHMARKS.md"
    docs_json.write_text(json.dumps({"answer_p50_ms": 12.5, "late_frames_platform": 99}))
    docs_md.write_text("# Benchmarks\n\n## Answer path\n\nkeep me\n\n## Realtime media path\n\nold\n\n## Other\n\nx\n")
    monkeypatch.setattr(realtime, "DOCS_JSON", docs_json)
    monkeypatch.setattr(realtime, "DOCS_MD", docs_md)
    realtime.write_json({"late_frames_platform": 0, "calls_per_core_platform": 100})
    realtime.write_markdown("## Realtime media path\n\nnew\n")
    assert json.loads(docs_json.read_text()) == {
        "answer_p50_ms": 12.5,
        "late_frames_platform": 0,
        "calls_per_core_platform": 100,
    }
    text = docs_md.read_text()
    assert "keep me" in text and "## Other\n\nx" in text and "new" in text and "old" not in text

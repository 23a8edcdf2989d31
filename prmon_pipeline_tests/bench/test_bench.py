"""``prmon bench --quick`` keeps the benchmark working: figures exist, the warehouse matches.

No timing is asserted (the machines are shared and noisy); only that every scenario ran, the
warehouse equals GitHub after each cycle, a steady cycle spends no rate limit, and the baselines
produced figures on the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prmon_pipeline.bench.report import PRMON_LOAD
from prmon_pipeline.cli import main


def test_quick_benchmark_produces_every_figure(
    server_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PRMON_DATABASE_URL", server_url)
    monkeypatch.chdir(tmp_path)  # dlt writes its working files relative to the current directory
    output = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    assert results["cold_matches"] and results["cold_dagster_matches"]
    assert results["incremental_matches"]
    for scenario in ("cold_direct", "cold_dagster", "incremental", "steady", "huge"):
        figures = results[scenario]
        assert figures["wall_seconds"] > 0 and figures["peak_rss_mb"] > 0, scenario
        assert figures["failed"] == [], scenario
    assert results["cold_direct"]["prs_new"] == 3 * 60
    assert results["cold_dagster"]["prs_new"] == 3 * 60
    assert results["steady"]["rate_limit_spent"] == 0
    assert results["steady"]["github_requests"] == results["steady"]["github_not_modified"]
    assert results["huge"]["matches"] and results["huge"]["prs_new"] == 2_000
    load = results["baselines"]["load"]
    assert {"bare COPY (floor)", PRMON_LOAD, "SQLAlchemy Core upsert"} <= set(load)
    assert all(figure["rows_per_second"] > 0 for figure in load.values())
    assert results["baselines"]["changeset"]["results_agree"] is True
    out = capsys.readouterr().out
    assert "targets" in out and "figures written to" in out

"""``prmon bench --quick`` keeps the benchmark working: figures exist, the warehouse matches.

No timing is asserted (the machines are shared and noisy); only that every scenario ran, the
warehouse equals GitHub after each cycle, a steady cycle spends no rate limit, and the baselines
produced figures on the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prmon_pipeline.bench.report import PRMON_LOAD, PRMON_RESYNC, STAGES, path_ratio
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
    assert results["cold_rest_matches"] and results["incremental_matches"]
    scenarios = ("cold_direct_rest", "cold_direct", "cold_dagster", "incremental", "steady", "huge")
    for scenario in scenarios:
        figures = results[scenario]
        assert figures["wall_seconds"] > 0 and figures["peak_rss_mb"] > 0, scenario
        assert figures["failed"] == [], scenario
    assert results["cold_direct"]["prs_new"] == 3 * 60
    cold = results["cold_direct"]
    assert cold["rows_written"] == cold["prs_new"] + cold["check_runs_new"] > 0
    assert cold["rows_per_second"] > 0
    assert results["steady"]["rows_written"] == 0
    stages = cold["stage_seconds"]
    assert set(stages) == set(STAGES)  # every stage of the runner, timed
    assert 0 < stages["parse"] < stages["discovery"]  # parsing is a part of discovery
    assert results["cold_dagster"]["prs_new"] == 3 * 60
    assert results["steady"]["rate_limit_spent"] == 0
    # Nothing changed: REST answers only free 304s (the PR lists, checks running for long);
    # GraphQL, which has no 304, re-reads the young running checks (at most a point a query).
    steady = results["steady"]
    assert steady["budget_spent"] == steady["graphql_points"] <= steady["graphql_queries"]
    # The REST-only cold sync reads no check run by GraphQL; the default one reads them all so,
    # in fewer queries than repositories (SHAs of repositories synced at once share queries).
    rest = results["cold_direct_rest"]
    assert rest["graphql_points"] == 0 and rest["check_runs_new"] == cold["check_runs_new"]
    assert cold["graphql_queries"] > 0 and cold["rate_limit_spent"] < rest["rate_limit_spent"]
    for figures in (rest, cold):
        units, points = figures["rate_limit_spent"], figures["graphql_points"]
        assert figures["token_hours"] == round(max(units, points) / 5000, 3)
        assert figures["budget_spent"] == units + points
    # fakehub counts GraphQL queries among its requests; every REST request was a 304
    rest_requests = steady["github_requests"] - steady["graphql_queries"]
    assert rest_requests == steady["github_not_modified"]
    assert results["huge"]["matches"] and results["huge"]["prs_new"] == 2_000
    # Both comparison paths timed on the same rows (each cycle fails if their changesets
    # differ): the incremental cycle on a copy of the warehouse, and the huge repository's full
    # reconciliation, which finds nothing to write.
    paths = results["incremental_paths"]
    assert paths["failed"] == [] and paths["prs_updated"] == results["incremental"]["prs_updated"]
    full = results["huge_full"]
    assert full["failed"] == [] and full["matches"] and full["rows_written"] == 0
    for figures in (paths, full):
        stages_seconds = figures["stage_seconds"]
        for stage in ("snapshot", "changeset"):
            for label in ("digest-first", "full comparison"):
                assert stages_seconds[f"{stage} ({label})"] > 0, (stage, label)
        assert path_ratio(figures) is not None
    assert set(results["baselines"]["resync_paths"]) == {"digest_first", "full_comparison"}
    baselines = results["baselines"]
    contenders = {"bare COPY (floor)", PRMON_LOAD, "SQLAlchemy Core upsert", "dlt merge"}
    for group in ("load", "load_like_prmon"):
        assert contenders | {"SQLAlchemy ORM per-row merge"} <= set(baselines[group]), group
    for group in ("resync", "resync_like_prmon"):
        assert {PRMON_RESYNC, "SQLAlchemy Core upsert", "dlt merge"} <= set(baselines[group])
    for group in ("load", "load_like_prmon", "resync", "resync_like_prmon"):
        for name, figure in baselines[group].items():
            assert figure["rows_per_second"] > 0, (group, name)
            # every contender stored exactly the rows it was given, on both kinds of table
            assert figure["stored"] == figure["rows"], (group, name)
    assert baselines["load"][PRMON_LOAD]["rows"] == baselines["check_runs"]
    assert results["baselines"]["changeset"]["results_agree"] is True
    _assert_events(results["events"])
    out = capsys.readouterr().out
    assert "targets" in out and "figures written to" in out
    assert "webhook events" in out
    assert "like prmon.check_runs" in out and "ROWS STORED" not in out
    assert "comparison paths, same rows" in out


def _assert_events(events: dict[str, Any]) -> None:
    """The events scenario: every figure exists, nothing was lost, the mixed run converged."""
    for field in ("deliveries_per_second", "latency_p50_seconds", "latency_p95_seconds"):
        assert events[field] > 0, field
    assert events["rate_limit_spent"] == 0  # the applier applies edits from the payloads alone
    ingest = events["ingest"]
    assert ingest["lost"] == 0 and ingest["stored"] == ingest["sent"] == ingest["accepted"]
    freshness = events["freshness"]
    assert freshness["pull_request_deliveries"] > 0
    assert freshness["measured"] == freshness["pull_request_deliveries"]
    mixed = events["mixed"]
    assert mixed["converged"] is True and mixed["valid_applied_once"] is True
    assert mixed["pr_mismatches"] == 0 and mixed["prs_compared"] > 0
    assert mixed["completed_run_mismatches"] == 0
    assert mixed["deliveries_by_status"].get("pending", 0) == 0
    assert mixed["deliveries_by_status"]["rejected"] == mixed["malformed_sent"] > 0
    assert mixed["extras_statuses"] == {
        "401": mixed["forged_sent"],
        "400": mixed["malformed_sent"],
    }
    assert mixed["receiver_unauthorized"] == mixed["forged_sent"]
    assert mixed["receiver_duplicates"] >= mixed["faults_fired"]["duplicate"] > 0
    assert mixed["recovery"]["redelivered"] == mixed["faults_fired"]["drop"] > 0
    assert mixed["deliveries_never_ok"] == 0
    assert mixed["receiver_alive"] is True and mixed["health_probes_failed"] == 0
    assert mixed["kill"]["pending_at_kill"] > 0  # killed with work left, which was then done

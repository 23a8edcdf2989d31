"""The benchmark's figures as tables, and against the targets of the performance issue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Table = Callable[[str, Sequence[str], Sequence[Sequence[object]]], None]

SCENARIOS = (
    ("cold_direct_rest", "cold sync (engine, REST only)"),
    ("cold_direct", "cold sync (engine)"),
    ("cold_dagster", "cold sync (Dagster single run)"),
    ("incremental", "incremental cycle (1 % churn)"),
    ("incremental_paths", "the same, both comparison paths (warehouse copy)"),
    ("steady", "steady cycle"),
    ("huge", "one repository, huge"),
    ("huge_full", "its full reconciliation, both comparison paths"),
)
PATH_SCENARIOS = (
    ("incremental_paths", "incremental cycle (1 % churn)"),
    ("huge_full", "full reconciliation, huge repository"),
)
"""Cycles run with ``--compare-paths``: both comparison paths timed on the same rows."""
PATHS = (("digest-first", "digest_first"), ("full comparison", "full_comparison"))
PATH_COLUMNS = (
    "scenario",
    "digest-first snapshot s",
    "changeset s",
    "full comparison snapshot s",
    "changeset s",
    "digest-first / full",
)
DIGEST_FIRST_TARGET = 0.7
"""The issue's target: digest-first's snapshot + changeset seconds 30 % below the full
comparison's in the incremental cycle."""
STAGES = ("read state", "read index", "discovery", "parse", "snapshot", "changeset", "load")
"""Stage seconds of a cycle (``sync.runner``); ``parse`` (JSON → Arrow) is the CPU part of
``discovery``."""
CYCLE_COLUMNS = (
    "scenario",
    "wall s",
    "rows/s",
    "PRs new/upd",
    "checks new/upd",
    "requests",
    "304s",
    "units spent",
    "GraphQL points",
    "token-hours",
    "peak RSS MB",
    "read state s",
    "read index s",
    "discovery s",
    "(parse s)",
    "snapshot s",
    "changeset s",
    "load s",
)


def _num(value: object) -> float:
    return float(str(value)) if value is not None else 0.0


def cycle_rows(results: dict[str, object]) -> list[list[object]]:
    rows: list[list[object]] = []
    for key, label in SCENARIOS:
        figures = results.get(key)
        if not isinstance(figures, dict):
            continue
        stages = figures.get("stage_seconds", {})
        assert isinstance(stages, dict)
        rows.append(
            [
                label,
                figures["wall_seconds"],
                f"{_num(figures.get('rows_per_second')):,.0f}",
                f"{figures['prs_new']}/{figures['prs_updated']}",
                f"{figures['check_runs_new']}/{figures['check_runs_updated']}",
                figures["github_requests"],
                figures["github_not_modified"],
                figures["rate_limit_spent"],
                figures.get("graphql_points", 0),
                f"{_num(figures.get('token_hours')):.3f}",
                figures["peak_rss_mb"],
                *(stages.get(s, "") for s in STAGES),
            ]
        )
    return rows


def path_seconds(figures: object, label: str) -> tuple[float, float] | None:
    """One path's summed snapshot and changeset seconds in a ``--compare-paths`` cycle."""
    if not isinstance(figures, dict):
        return None
    stages = figures.get("stage_seconds", {})
    assert isinstance(stages, dict)
    names = (f"snapshot ({label})", f"changeset ({label})")
    if not all(name in stages for name in names):
        return None
    return _num(stages[names[0]]), _num(stages[names[1]])


def path_ratio(figures: object) -> float | None:
    """Digest-first's snapshot + changeset seconds over the full comparison's."""
    digest, full = (path_seconds(figures, label) for label, _ in PATHS)
    if digest is None or full is None or not sum(full):
        return None
    return sum(digest) / sum(full)


def path_rows(results: dict[str, object]) -> list[list[object]]:
    rows: list[list[object]] = []
    for key, label in PATH_SCENARIOS:
        figures = results.get(key)
        timings = [path_seconds(figures, name) for name, _ in PATHS]
        ratio = path_ratio(figures)
        if ratio is None:
            continue
        rows.append(
            [label, *(f"{value:.3f}" for pair in timings if pair for value in pair), f"{ratio:.2f}"]
        )
    baselines = results.get("baselines")
    resync = baselines.get("resync_paths") if isinstance(baselines, dict) else None
    if isinstance(resync, dict):
        digest, full = _num(resync["digest_first"]), _num(resync["full_comparison"])
        label = "re-sync of the baselines' check runs, 10 % changed (snapshot + changeset)"
        rows.append([label, f"{digest:.3f}", "", f"{full:.3f}", "", f"{digest / full:.2f}"])
    return rows


PRMON_LOAD = "prmon load (first load of a repository)"
PRMON_RESYNC = "prmon (snapshot + changeset + load)"
BASELINE_GROUPS = (
    ("load", PRMON_LOAD, "cold, own tables"),
    ("load_like_prmon", PRMON_LOAD, "cold, tables like prmon.check_runs"),
    ("resync", PRMON_RESYNC, "re-sync 10% changed, own tables"),
    ("resync_like_prmon", PRMON_RESYNC, "re-sync 10% changed, like prmon.check_runs"),
)
"""The baseline rounds (``load_baselines``): key in the results, prmon's figure, label."""
LOAD_TARGETS = (
    ("bare COPY (floor)", 1 / 1.3),
    ("SQLAlchemy Core upsert", 3),
    ("SQLAlchemy ORM per-row merge", 10),
    ("dlt merge", 5),
)
"""The issue's ratios: prmon's rows/s at least this many times each contender's."""


def _ratio_rows(figures: dict[str, Any], ours_name: str, label: str) -> list[list[object]]:
    ours = _num(figures[ours_name]["rows_per_second"])
    return [
        [
            f"{label}: {name}",
            figure["rows"],
            f"{_num(figure['rows_per_second']):,.0f}",
            f"{ours / _num(figure['rows_per_second']):.2f}×",
            _note(figure),
        ]
        for name, figure in figures.items()
    ]


def _note(figure: dict[str, Any]) -> str:
    """The figure's note, and a warning when its table does not hold the rows it was given."""
    stored = figure.get("stored", figure["rows"])
    warning = f"ONLY {stored} OF {figure['rows']} ROWS STORED" if stored != figure["rows"] else ""
    return "; ".join(part for part in (figure["note"], warning) if part)


def baseline_rows(results: dict[str, object]) -> list[list[object]]:
    baselines = results.get("baselines")
    if not isinstance(baselines, dict):
        return []
    rows: list[list[object]] = []
    for key, ours_name, label in BASELINE_GROUPS:
        if isinstance(baselines.get(key), dict):
            rows += _ratio_rows(baselines[key], ours_name, label)
    changeset = baselines["changeset"]
    assert isinstance(changeset, dict)
    rows.append(
        [
            "changeset: Polars vs dict baseline",
            changeset["input_rows"],
            f"{_num(changeset['polars_rows_per_second']):,.0f} vs "
            f"{_num(changeset['dict_rows_per_second']):,.0f}",
            f"{changeset['speedup']}×",
            "results agree" if changeset["results_agree"] else "RESULTS DIFFER",
        ]
    )
    return rows


def events_rows(results: dict[str, object]) -> list[list[object]]:
    """The events scenario: one row per part with its main figures (see ``bench.events``)."""
    events = results.get("events")
    if not isinstance(events, dict):
        return []
    ingest, fresh, mixed = events["ingest"], events["freshness"], events["mixed"]
    kill = mixed.get("kill", {})
    statuses = mixed["deliveries_by_status"]
    return [
        [
            "ingest (serve)",
            f"{ingest['deliveries_per_second']:,}/s",
            f"{ingest['sent']} sent, {ingest['stored']} stored, {ingest['lost']} lost; "
            f"~{ingest['body_bytes_mean']:,} B bodies over {ingest['connections']} connections; "
            f"CPU s receiver {ingest['receiver_cpu_seconds']}, sender "
            f"{ingest['sender_cpu_seconds']}",
        ],
        [
            "freshness (serve --apply)",
            f"p50 {fresh['latency_p50_seconds']} s, p95 {fresh['latency_p95_seconds']} s",
            f"{fresh['measured']} of {fresh['pull_request_deliveries']} PR deliveries; "
            f"units {fresh['rate_limit_spent']} + points {fresh['graphql_points']} for "
            f"{fresh['deliveries_applied']} applied",
        ],
        *_sensor_rows(fresh),
        [
            "mixed run",
            "converged" if mixed["converged"] else "DID NOT CONVERGE",
            f"{mixed['posted']} POSTs: {mixed['valid_deliveries']} valid deliveries, "
            f"{mixed['forged_sent']} forged, {mixed['malformed_sent']} malformed, "
            f"faults {mixed['faults_fired']}; stored {statuses}; "
            f"PR mismatches {mixed['pr_mismatches']} of {mixed['prs_compared']}, completed-run "
            f"mismatches {mixed['completed_run_mismatches']} of "
            f"{mixed['completed_runs_compared']}; redelivered "
            f"{mixed['recovery']['redelivered']}; applier killed with "
            f"{kill.get('pending_at_kill')} pending; health probes failed "
            f"{mixed['health_probes_failed']} of "
            f"{mixed['health_probes_ok'] + mixed['health_probes_failed']}",
        ],
    ]


def _sensor_rows(fresh: dict[str, Any]) -> list[list[object]]:
    sensor = fresh.get("sensor")
    if not isinstance(sensor, dict):
        return []
    return [
        [
            "freshness (Dagster sensor)",
            f"p50 {sensor['latency_p50_seconds']} s, p95 {sensor['latency_p95_seconds']} s",
            f"{sensor['measured']} of {sensor['pull_request_deliveries']} PR deliveries; sensor"
            " every 5 s, runs materialized in-process (a daemon's run launch not included); "
            f"units {sensor['rate_limit_spent']} + points {sensor['graphql_points']}",
        ]
    ]


def target_rows(results: dict[str, object]) -> list[list[object]]:
    """Each target of the issue, the figure measured, and whether it is met."""
    rows: list[list[object]] = []

    def check(name: str, measured: float | None, limit: float, higher_is_better: bool) -> None:
        if measured is None:
            return
        met = measured >= limit if higher_is_better else measured <= limit
        rows.append(
            [
                name,
                f"{measured:,.2f}",
                f"{'≥' if higher_is_better else '≤'} {limit:g}",
                "met" if met else "MISSED",
            ]
        )

    def figure(key: str, field: str) -> float | None:
        data = results.get(key)
        return _num(data[field]) if isinstance(data, dict) and field in data else None

    check("cold sync wall s", figure("cold_direct", "wall_seconds"), 120, False)
    check("cold sync peak RSS MB", figure("cold_direct", "peak_rss_mb"), 300, False)
    check("incremental cycle wall s", figure("incremental", "wall_seconds"), 15, False)
    check("steady cycle wall s", figure("steady", "wall_seconds"), 5, False)
    check("steady cycle units + points", figure("steady", "budget_spent"), 0, False)
    check("cold sync token-hours", figure("cold_direct", "token_hours"), 1.0, False)
    check("incremental cycle units + points", figure("incremental", "budget_spent"), 150, False)
    check("huge repository peak RSS MB", figure("huge", "peak_rss_mb"), 500, False)
    incremental_ratio = path_ratio(results.get("incremental_paths"))
    if incremental_ratio is not None:
        check(
            "incremental snapshot + changeset, digest-first / full comparison",
            incremental_ratio,
            DIGEST_FIRST_TARGET,
            False,
        )
    rest = figure("cold_direct_rest", "wall_seconds")
    direct, dagster = figure("cold_direct", "wall_seconds"), figure("cold_dagster", "wall_seconds")
    if direct and rest:
        check("cold sync wall, GraphQL / REST only", direct / rest, 0.6, False)
    if direct and dagster:
        check("Dagster path / engine path, wall", dagster / direct, 1.5, False)
    direct_rss = figure("cold_direct", "peak_rss_mb")
    dagster_rss = figure("cold_dagster", "peak_rss_mb")
    if direct_rss and dagster_rss:
        check("Dagster path / engine path, peak RSS", dagster_rss / direct_rss, 2.0, False)
    check("events: deliveries/s stored", figure("events", "deliveries_per_second"), 1000, True)
    check("events: event→row p95 s", figure("events", "latency_p95_seconds"), 5, False)
    check(
        "events: units + points per applied",
        figure("events", "budget_per_applied_delivery"),
        0,
        False,
    )
    baselines = results.get("baselines")
    if isinstance(baselines, dict):
        for key, ours_name, _ in BASELINE_GROUPS:
            figures = baselines.get(key)
            if not isinstance(figures, dict):
                continue
            ours = _num(figures[ours_name]["rows_per_second"])
            for name, limit in LOAD_TARGETS:
                if name in figures:
                    rate = _num(figures[name]["rows_per_second"])
                    check(f"{key}: prmon vs {name} (×)", ours / rate, limit, True)
        check("changeset vs dict baseline (×)", _num(baselines["changeset"]["speedup"]), 20, True)
    return rows


def print_report(results: dict[str, object], table: Table) -> None:
    table(
        "sync cycles (stage seconds are summed over repositories)",
        CYCLE_COLUMNS,
        cycle_rows(results),
    )
    rows = path_rows(results)
    if rows:
        table(
            "comparison paths, same rows (median of 3 interleaved runs, summed over repositories)",
            PATH_COLUMNS,
            rows,
        )
    rows = baseline_rows(results)
    if rows:
        table(
            "load stage on the same rows: rows/s and prmon's ratio",
            ("contender", "rows", "rows/s", "prmon ×", "note"),
            rows,
        )
    rows = events_rows(results)
    if rows:
        table("webhook events", ("part", "figure", "detail"), rows)
    table("targets", ("target", "measured", "goal", "verdict"), target_rows(results))

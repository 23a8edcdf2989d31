"""What the UI shows for one repository's partition of each asset.

Plain figures go in as numbers so the UI can plot them across materializations; the changed
PRs, changed fields and state transitions go in as small tables. ``dagster/row_count`` is the
rows the asset holds for the partition (the warehouse asset: rows written by the load).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import dagster as dg

from prmon_pipeline.core.changeset import Changeset
from prmon_pipeline.core.costs import cost_figures, count_figures
from prmon_pipeline.github.discovery import DiscoveryResult
from prmon_pipeline.warehouse.audit import LoadResult

CHANGED_PRS_SHOWN = 20


def discovery_metadata(result: DiscoveryResult, seconds: float) -> dict[str, Any]:
    """For ``pull_requests``: what was read and what it cost against the rate limit."""
    stats = result.stats
    return {
        "dagster/row_count": result.pull_requests.num_rows,
        "sync_mode": result.mode,
        **cost_figures(stats.cost),
        "pull_request_pages": stats.pull_request_pages,
        "pulls_unchanged": result.pulls_unchanged,
        "renamed_to": result.renamed_to or "",
        "seconds_discovery": round(seconds, 3),
    }


def check_runs_metadata(result: DiscoveryResult) -> dict[str, Any]:
    """For ``check_runs``: rows seen and how many head SHAs were polled or answered 304."""
    stats = result.stats
    return {
        "dagster/row_count": result.check_runs.num_rows,
        "check_run_shas_polled": stats.check_run_shas,
        "check_run_shas_unchanged": stats.check_run_shas_unchanged,
    }


def changeset_metadata(changeset: Changeset, seconds: float) -> dict[str, Any]:
    """For ``changeset``: counts, which fields changed how often, transitions, changed PRs."""
    summary = changeset.summary()
    rows = (
        changeset.prs_new.num_rows
        + changeset.prs_updated.num_rows
        + changeset.prs_deleted.num_rows
        + changeset.check_runs_new.num_rows
        + changeset.check_runs_updated.num_rows
    )
    return {
        "dagster/row_count": rows,
        **summary,
        "field_changes_by_field": _counts_table(changeset.field_change_counts(), "field"),
        "state_transitions_by_kind": _counts_table(_transition_counts(changeset), "transition"),
        "changed_pull_requests": dg.MetadataValue.md(changed_prs_markdown(changeset)),
        "seconds_changeset": round(seconds, 3),
    }


def load_metadata(load: LoadResult, seconds: float) -> dict[str, Any]:
    """For ``warehouse_tables``: what the load wrote, and the audit row it left."""
    return {
        "dagster/row_count": load.counts.rows_written,
        "sync_run_id": load.sync_run_id,
        **count_figures(load.counts),
        "seconds_load": round(seconds, 3),
    }


def failures_markdown(failures: dict[str, str]) -> str:
    """A table of the repositories that failed in a run, and why."""
    lines = ["| repository | error |", "| --- | --- |"]
    lines += [f"| {key} | {_cell(error)} |" for key, error in sorted(failures.items())]
    return "\n".join(lines)


def changed_prs_markdown(changeset: Changeset, limit: int = CHANGED_PRS_SHOWN) -> str:
    """The first ``limit`` new, updated or deleted PRs with the fields that changed."""
    fields: dict[int, list[str]] = {}
    for change in changeset.pr_field_changes.select(["number", "field"]).to_pylist():
        fields.setdefault(int(change["number"]), []).append(str(change["field"]))
    rows: list[tuple[int, str, str, str, str]] = []
    for kind, table in (("new", changeset.prs_new), ("updated", changeset.prs_updated)):
        for pr in table.select(["number", "title", "state"]).to_pylist():
            number = int(pr["number"])
            changed = ", ".join(sorted(fields.get(number, []))) if kind == "updated" else ""
            rows.append((number, kind, str(pr["state"]), _cell(str(pr["title"])), changed))
    for deleted in changeset.prs_deleted.column("number").to_pylist():
        rows.append((int(str(deleted)), "deleted", "", "", ""))
    if not rows:
        return "No pull request changed."
    rows.sort(key=lambda row: row[0], reverse=True)
    lines = ["| # | change | state | title | fields |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {n} | {kind} | {state} | {title} | {changed} |"
        for n, kind, state, title, changed in rows[:limit]
    ]
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more")
    return "\n".join(lines)


def _transition_counts(changeset: Changeset) -> dict[str, int]:
    transitions = changeset.state_transitions.select(["from_state", "to_state"]).to_pylist()
    return dict(Counter(f"{t['from_state'] or 'new'} → {t['to_state']}" for t in transitions))


def _counts_table(counts: dict[str, int], label: str) -> dg.TableMetadataValue:
    schema = dg.TableSchema(
        columns=[dg.TableColumn(label, "string"), dg.TableColumn("count", "int")]
    )
    records = [dg.TableRecord({label: key, "count": n}) for key, n in sorted(counts.items())]
    return dg.MetadataValue.table(records, schema=schema)


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell, cut to a readable length."""
    flat = text.replace("|", "\\|").replace("\n", " ").strip()
    return flat if len(flat) <= 80 else flat[:77] + "…"

"""A changeset as a directory of Parquet files, so Dagster can persist it between steps.

Layout: one ``<table>.parquet`` per table of ``CHANGESET_TABLE_SCHEMAS`` and ``counts.json`` for
the counts that are not table lengths, plus a format version. One file per table keeps each
table's own schema (a single Parquet file holds one schema) and lets a reader open just the
table it needs, e.g. ``pr_field_changes.parquet`` for a dry-run report.

These two functions are the only file access in ``core``: they read and write nothing but the
directory they are given, so the IO manager and the CLI share one format. Reading conforms every
table to its schema, so a file written by an older build fails loudly instead of loading wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from prmon_pipeline.core.changeset import CHANGESET_TABLE_SCHEMAS, Changeset
from prmon_pipeline.core.errors import PrmonError
from prmon_pipeline.core.normalise import conform

CHANGESET_FORMAT_VERSION = 1
COUNTS_FILE_NAME = "counts.json"


class ChangesetFormatError(PrmonError, ValueError):
    """A persisted changeset is missing a file or was written in another format version."""


def write_changeset(changeset: Changeset, directory: Path | str) -> Path:
    """Write ``changeset`` under ``directory`` (created if needed); returns the directory."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for name, table in changeset.tables().items():
        pq.write_table(table, target / f"{name}.parquet")
    counts = {"format_version": CHANGESET_FORMAT_VERSION, **changeset.counts()}
    (target / COUNTS_FILE_NAME).write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
    return target


def read_changeset(directory: Path | str) -> Changeset:
    """Read a changeset written by ``write_changeset``."""
    source = Path(directory)
    counts_path = source / COUNTS_FILE_NAME
    if not counts_path.is_file():
        raise ChangesetFormatError(f"changeset: no {COUNTS_FILE_NAME} in {source}")
    counts = json.loads(counts_path.read_text())
    version = counts.get("format_version")
    if version != CHANGESET_FORMAT_VERSION:
        raise ChangesetFormatError(
            f"changeset: {source} has format version {version!r}, "
            f"this build reads {CHANGESET_FORMAT_VERSION}"
        )
    tables = {}
    for name, schema in CHANGESET_TABLE_SCHEMAS.items():
        path = source / f"{name}.parquet"
        if not path.is_file():
            raise ChangesetFormatError(f"changeset: missing {path}")
        tables[name] = conform(pq.read_table(path), schema)
    return Changeset(
        prs_new=tables["prs_new"],
        prs_updated=tables["prs_updated"],
        pr_field_changes=tables["pr_field_changes"],
        state_transitions=tables["state_transitions"],
        prs_deleted=tables["prs_deleted"],
        check_runs_new=tables["check_runs_new"],
        check_runs_updated=tables["check_runs_updated"],
        prs_unchanged=int(counts["prs_unchanged"]),
        prs_stale=int(counts["prs_stale"]),
        check_runs_unchanged=int(counts["check_runs_unchanged"]),
    )

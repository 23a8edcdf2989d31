"""The load stage against its floor and the usual alternatives, on the same rows, in one process.

Every contender loads the same check runs into empty tables of two kinds:

* ``own``: a minimal table of its own, the columns of the check-run Arrow schema keyed on
  ``(pr_number, github_id)`` where the contender needs a key (the floor's has none): what each way
  of loading costs when the table itself costs nothing;
* ``like_prmon``: a table shaped like ``prmon.check_runs`` (``LIKE … INCLUDING ALL`` plus its
  foreign keys, read from the catalog, so it follows the migrations): the identity key, the
  unique key, the CHECKs, both secondary indexes and the per-row foreign-key check that prmon's
  own load pays, and the rows as prmon stores them (PR ids resolved). This compares the ways of
  loading on the job prmon actually does.

Contenders:

* ``bare_copy``: COPY with no key and no MERGE: the floor of each kind of table;
* ``prmon_load``: the project's load of a repository's first check runs (one transaction);
* ``sqlalchemy_core``: ``insert().on_conflict_do_update()`` executed with a list of dicts;
* ``sqlalchemy_orm``: an ORM session merging one object per row (the design the seeds sketch);
* ``dlt_merge``: dlt's PostgreSQL destination with ``write_disposition="merge"``.

Each returns rows per second and how many rows its table holds afterwards (all contenders must
have stored the same rows); the slow ones may run on a prefix of the rows (``limit``), which is
fair for a rate and says so in the result. A second round (a re-sync) offers the same rows again
with one in ten changed: the baselines upsert them all, prmon reads its snapshot, diffs, and loads
only what changed — the steady state of a mirror refreshed every few minutes.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, registry

from prmon_pipeline.bench.report import PRMON_LOAD
from prmon_pipeline.core import sql_text
from prmon_pipeline.core.changeset import Changeset, compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_from_digests
from prmon_pipeline.core.check_run_rows import check_run_table_rows
from prmon_pipeline.core.csv_codec import encode_csv
from prmon_pipeline.core.models import COMPARISON_PATHS, ComparisonPath, SyncCursors
from prmon_pipeline.core.normalise import conform
from prmon_pipeline.core.schemas import CHECK_RUN_KEY, CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.warehouse.audit import SyncAudit
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.load import load_changeset
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline.warehouse.snapshot import (
    read_pull_request_ids,
    read_snapshot,
    read_snapshot_by_digest,
)

BENCH_SCHEMA = "prmon_bench"
LIKE_PRMON_KEY = ("pull_request_id", "github_id")
"""The unique key of ``prmon.check_runs``: what an upsert into a table of its shape conflicts on."""


@dataclass(frozen=True)
class LoadFigure:
    """One contender's measurement."""

    name: str
    rows: int
    seconds: float
    stored: int
    """Rows in the contender's table after its load: every contender must store the same rows."""
    note: str = ""
    target: Any = None
    """What was loaded into (a table name, a dlt pipeline), for a second, re-sync round."""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class TableKind:
    """A kind of table the contenders load into, with the rows and the key that go with it."""

    name: str
    rows: pa.Table
    key: tuple[str, ...]

    @property
    def like_prmon(self) -> bool:
        return self.name == "like_prmon"


@dataclass(frozen=True)
class BenchRows:
    """The rows of one baseline round: check runs as the pipeline holds them, and as rows of
    ``prmon.check_runs`` with the ids of a bench repository's PRs (loaded untimed first)."""

    repository_id: int
    runs: pa.Table
    table_rows: pa.Table
    prs: pa.Table
    """The repository's PRs as stored: what a re-sync of the whole repository sees again."""

    def kinds(self) -> tuple[TableKind, TableKind]:
        return (
            TableKind("own", self.runs, CHECK_RUN_KEY),
            TableKind("like_prmon", self.table_rows, LIKE_PRMON_KEY),
        )


def prepare_rows(url: str, prs: pa.Table, runs: pa.Table) -> BenchRows:
    """Register a bench repository, load its PRs (untimed) and resolve the runs' PR ids."""
    with connect(url, autocommit=True) as conn:
        repository_id = add_repository(conn, f"bench/load-{uuid.uuid4().hex[:8]}").id
        _load(conn, repository_id, prs, CHECK_RUN_SCHEMA.empty_table())
        ids = read_pull_request_ids(conn, repository_id)
    return BenchRows(repository_id, runs, check_run_table_rows(runs, ids, repository_id), prs)


def _sa_url(url: str) -> str:
    _, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}"


def _sa_table(metadata: sa.MetaData, name: str, kind: TableKind) -> sa.Table:
    """The table for SQLAlchemy, generated from the rows' Arrow schema (one source).

    The key columns are the mapping's primary key: for a table like ``prmon.check_runs`` that is
    its unique key (its ``id`` is an identity the database fills), which is what a merge or an
    upsert of a mirrored row must match on.
    """
    kinds: dict[str, Any] = {
        "int64": sa.BigInteger,
        "large_string": sa.Text,
        "timestamp[us, tz=UTC]": sa.DateTime(timezone=True),
        "large_binary": sa.LargeBinary,  # the stored rows' digest (core.digests)
    }
    columns = [
        sa.Column(f.name, kinds[str(f.type)], primary_key=f.name in kind.key)
        for f in kind.rows.schema
    ]
    return sa.Table(name, metadata, *columns, schema=BENCH_SCHEMA)


def _fresh_table(url: str, kind: TableKind, *, keyed: bool) -> str:
    """An empty table of the kind in the bench schema; its unqualified name."""
    name = f"runs_{uuid.uuid4().hex[:8]}"
    with connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BENCH_SCHEMA}")
        if kind.like_prmon:
            create_like_prmon(conn, BENCH_SCHEMA, name)
        else:
            columns = ", ".join(
                f"{sql_text.quote_ident(f.name)} {sql_text.sql_type(f.type)}"
                for f in kind.rows.schema
            )
            key = f", PRIMARY KEY ({sql_text.column_list(kind.key)})" if keyed else ""
            conn.execute(f"CREATE TABLE {BENCH_SCHEMA}.{name} ({columns}{key})")
    return name


def create_like_prmon(conn: Any, schema: str, name: str) -> None:
    """``schema.name`` shaped like ``prmon.check_runs``: columns, defaults, identity, CHECKs,
    keys, indexes (``LIKE … INCLUDING ALL``) and its foreign keys, which ``LIKE`` leaves out."""
    target = f"{sql_text.quote_ident(schema)}.{sql_text.quote_ident(name)}"
    source = sql_text.qualified("check_runs")
    conn.execute(f"CREATE TABLE {target} (LIKE {source} INCLUDING ALL)")
    foreign_keys = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        (source,),
    ).fetchall()
    for (definition,) in foreign_keys:
        conn.execute(f"ALTER TABLE {target} ADD {definition}")


def _stored(url: str, table: str, where: str = "", params: tuple[object, ...] = ()) -> int:
    with connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}{where}", params).fetchone()
    return int(str(row[0])) if row else 0


def _timed(
    name: str, rows: int, work: Callable[[], object], stored: Callable[[], int], note: str = ""
) -> LoadFigure:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    return LoadFigure(name, rows, seconds, stored(), note)


def bare_copy(url: str, kind: TableKind) -> LoadFigure:
    """COPY the rows (CSV from Polars) into an empty table of the kind with no key: the floor.

    A table like ``prmon.check_runs`` keeps its keys, indexes and foreign key: that floor is
    what storing these rows in the contract's table costs at the least.
    """
    table = f"{BENCH_SCHEMA}.{_fresh_table(url, kind, keyed=False)}"
    columns = sql_text.column_list(kind.rows.schema.names)

    def work() -> None:
        with connect(url) as conn, conn.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(encode_csv(kind.rows))
            conn.commit()

    return _timed("bare COPY (floor)", kind.rows.num_rows, work, partial(_stored, url, table))


def prmon_load(url: str, rows: BenchRows) -> LoadFigure:
    """The project's load of the bench repository's first check runs (its PRs are stored)."""

    def work() -> None:
        with connect(url, autocommit=True) as conn:
            _load(conn, rows.repository_id, PULL_REQUEST_SCHEMA.empty_table(), rows.runs)

    figure = _timed(PRMON_LOAD, rows.runs.num_rows, work, partial(_prmon_stored, url, rows))
    return replace(figure, target=rows.repository_id)


def _prmon_stored(url: str, rows: BenchRows) -> int:
    where = " WHERE repository_id = %s"
    return _stored(url, sql_text.qualified("check_runs"), where, (rows.repository_id,))


RESYNC_PATH_REPEATS = 3


def resync_changeset(
    conn: Any, repository_id: int, prs: pa.Table, runs: pa.Table, path: ComparisonPath
) -> Changeset:
    """Snapshot and changeset of a re-sync of the whole repository, by ``path``."""
    if path == "full_comparison":
        stored_prs, stored_runs = read_snapshot(conn, repository_id, None)
        return compute_changeset(prs, stored_prs, runs, stored_runs, "incremental")
    snapshot = read_snapshot_by_digest(conn, repository_id, None, prs, runs)
    return compute_changeset_from_digests(
        snapshot.comparison,
        snapshot.differing_pull_requests,
        snapshot.differing_check_runs,
        "incremental",
    )


def resync_paths(url: str, rows: BenchRows, runs: pa.Table) -> dict[str, float]:
    """Snapshot + changeset seconds of each path on the re-sync's rows (nothing loaded):
    medians of ``RESYNC_PATH_REPEATS`` runs, the paths interleaved; both must agree."""
    samples: dict[ComparisonPath, list[float]] = {path: [] for path in COMPARISON_PATHS}
    summaries = {}
    with connect(url, autocommit=True) as conn:
        for repeat in range(RESYNC_PATH_REPEATS):
            order = COMPARISON_PATHS if repeat % 2 == 0 else COMPARISON_PATHS[::-1]
            for path in order:
                started = time.perf_counter()
                changes = resync_changeset(conn, rows.repository_id, rows.prs, runs, path)
                samples[path].append(time.perf_counter() - started)
                summaries[path] = changes.summary()
    if len({str(summary) for summary in summaries.values()}) != 1:
        raise AssertionError(f"the comparison paths disagree: {summaries}")
    return {path: round(statistics.median(values), 3) for path, values in samples.items()}


def prmon_resync(url: str, rows: BenchRows, runs: pa.Table, path: ComparisonPath) -> LoadFigure:
    """The project's way with rows it already holds: snapshot, changeset, load what changed."""
    repository_id = rows.repository_id

    def work() -> None:
        with connect(url, autocommit=True) as conn:
            changes = resync_changeset(conn, repository_id, rows.prs, runs, path)
            _load(
                conn, repository_id, PULL_REQUEST_SCHEMA.empty_table(), changes.check_runs_to_upsert
            )

    stored = partial(_prmon_stored, url, rows)
    note = f"{path.replace('_', ' ')} path"
    return _timed("prmon (snapshot + changeset + load)", runs.num_rows, work, stored, note)


def changed_tenth(kind: TableKind) -> TableKind:
    """The same rows with one in ten changed (a new output title), for a re-sync."""
    frame = pl.from_arrow(kind.rows)
    assert isinstance(frame, pl.DataFrame)
    edited = (
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(pl.lit("re-run summary"))
        .otherwise(pl.col("output_title"))
        .alias("output_title")
    )
    return replace(kind, rows=conform(frame.with_columns(edited), kind.rows.schema))


def _load(conn: Any, repository_id: int, prs: pa.Table, runs: pa.Table) -> None:
    now = datetime.now(UTC)
    load_changeset(
        conn,
        repository_id,
        pull_requests=prs,
        check_runs=runs,
        deleted_numbers=[],
        cursors=SyncCursors(),
        audit=SyncAudit(mode="full", started_at=now),
        now=now,
    )


def sqlalchemy_core(url: str, kind: TableKind, name: str | None = None) -> LoadFigure:
    """``insert().on_conflict_do_update()`` with a list of dicts (executemany).

    With ``name`` the rows go into that existing table (a re-sync); else into a fresh one.
    """
    name = name or _fresh_table(url, kind, keyed=True)
    engine = sa.create_engine(_sa_url(url))
    table = _sa_table(sa.MetaData(), name, kind)
    rows = kind.rows.to_pylist()

    def work() -> None:
        statement = pg_insert(table)
        update = {c.name: statement.excluded[c.name] for c in table.columns if not c.primary_key}
        with engine.begin() as conn:
            conn.execute(
                statement.on_conflict_do_update(index_elements=list(kind.key), set_=update),
                rows,
            )

    try:
        stored = partial(_stored, url, f"{BENCH_SCHEMA}.{name}")
        figure = _timed("SQLAlchemy Core upsert", len(rows), work, stored)
        return replace(figure, target=name)
    finally:
        engine.dispose()


def sqlalchemy_orm(url: str, kind: TableKind, limit: int = 5_000) -> LoadFigure:
    """An ORM session merging one object per row, committed once (SELECT + INSERT per row)."""
    name = _fresh_table(url, kind, keyed=True)
    engine = sa.create_engine(_sa_url(url))
    mapper_registry = registry()
    table = _sa_table(mapper_registry.metadata, name, kind)
    model = type("CheckRun", (), {})
    mapper_registry.map_imperatively(model, table)
    rows = kind.rows.slice(0, limit).to_pylist()

    def work() -> None:
        with Session(engine) as session:
            for row in rows:
                obj = model()
                for key, value in row.items():
                    setattr(obj, key, value)
                session.merge(obj)
            session.commit()

    note = f"first {len(rows)} rows" if kind.rows.num_rows > len(rows) else ""
    try:
        stored = partial(_stored, url, f"{BENCH_SCHEMA}.{name}")
        return _timed("SQLAlchemy ORM per-row merge", len(rows), work, stored, note)
    finally:
        engine.dispose()


def dlt_credentials_url(url: str) -> str:
    """The server URL in the shape dlt's PostgreSQL credentials accept.

    dlt insists on a password and on a host in the URL's authority. A trust-auth server (as here)
    ignores a placeholder password. The embedded server's URL has no host there: it names its
    Unix-socket directory in a ``host`` query parameter, which dlt does not look at, so it failed
    the baseline with "missing field host" (reported only as "Pipeline execution failed at
    `step=sync`"). The directory moves into the authority, percent-encoded, which libpq reads as
    the same socket: https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    user_info, _, address = parts.netloc.rpartition("@")
    user, _, password = user_info.partition(":")
    if not address:
        sockets = [value for key, value in query if key == "host"]
        address = quote(sockets[0], safe="") if sockets else "localhost"
        query = [(key, value) for key, value in query if key != "host"]
    netloc = f"{user or 'postgres'}:{password or 'unused'}@{address}"
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain: dlt's own message names only the failed step."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def dlt_merge(url: str, kind: TableKind, workdir: str, pipeline: Any = None) -> LoadFigure:
    """dlt's PostgreSQL destination, ``write_disposition="merge"`` on the kind's key.

    With ``pipeline`` (from a first round) the rows merge into what that pipeline loaded. For a
    table like ``prmon.check_runs`` the table is created first in dlt's dataset: dlt finds it
    there and merges into it (its inserts name their columns, so the identity fills ``id``).
    """
    import dlt  # noqa: PLC0415 - the optional bench group; the other contenders work without it

    if pipeline is None:
        dataset = f"dlt_{uuid.uuid4().hex[:8]}"
        if kind.like_prmon:
            with connect(url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {dataset}")
                create_like_prmon(conn, dataset, "check_runs")
        pipeline = dlt.pipeline(
            pipeline_name=dataset,
            pipelines_dir=workdir,
            destination=dlt.destinations.postgres(credentials=dlt_credentials_url(url)),
            dataset_name=dataset,
        )

    # dlt's Arrow path fails on a binary column ("Invalid UTF8 payload"): it loads the rows
    # without prmon's digest (nullable in the table), a little less work than prmon does.
    rows, note = kind.rows, ""
    if "digest" in rows.schema.names:
        rows, note = rows.drop_columns(["digest"]), "without the digest column"

    def work() -> None:
        pipeline.run(
            rows,
            table_name="check_runs",
            write_disposition="merge",
            primary_key=list(kind.key),
        )

    stored = partial(_stored, url, f"{pipeline.dataset_name}.check_runs")
    try:
        figure = _timed("dlt merge", kind.rows.num_rows, work, stored, note)
    except Exception as exc:
        cause = _root_cause(exc)
        first_line = (str(cause).strip().splitlines() or [""])[0]
        raise RuntimeError(f"dlt merge failed: {type(cause).__name__}: {first_line}") from exc
    return replace(figure, target=pipeline)


def drop_tables(url: str, dlt_datasets: list[str]) -> None:
    """Drop every baseline's table (before the bench repository: no cascade through them)."""
    with connect(url, autocommit=True) as conn:
        for schema in (BENCH_SCHEMA, *dlt_datasets, *(f"{d}_staging" for d in dlt_datasets)):
            conn.execute(f"DROP SCHEMA IF EXISTS {sql_text.quote_ident(schema)} CASCADE")

"""The load stage against its floor and the usual alternatives, on the same rows, in one process.

Every contender loads the same Arrow table of check runs into an empty table of its own, so the
figures compare like with like:

* ``bare_copy``: COPY into an empty plain table with no index, no MERGE: the floor;
* ``prmon``: the project's load (TEMP staging + COPY + newest-wins MERGE, one transaction);
* ``sqlalchemy_core``: ``insert().on_conflict_do_update()`` executed with a list of dicts;
* ``sqlalchemy_orm``: an ORM session merging one object per row (the design the seeds sketch);
* ``dlt``: dlt's PostgreSQL destination with ``write_disposition="merge"``.

Each returns rows per second; the slow ones may run on a prefix of the rows (``limit``), which is
fair for a rate and says so in the result. A second round (a re-sync) offers the same rows again
with one in ten changed: the baselines upsert them all, prmon reads its snapshot, diffs, and loads
only what changed — the steady state of a mirror refreshed every few minutes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, registry

from prmon_pipeline.bench.report import PRMON_LOAD
from prmon_pipeline.core import sql_text
from prmon_pipeline.core.changeset import compute_changeset
from prmon_pipeline.core.csv_codec import encode_csv
from prmon_pipeline.core.models import SyncCursors
from prmon_pipeline.core.normalise import conform
from prmon_pipeline.core.schemas import CHECK_RUN_KEY, CHECK_RUN_SCHEMA, PULL_REQUEST_SCHEMA
from prmon_pipeline.warehouse.audit import SyncAudit
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline.warehouse.load import load_changeset
from prmon_pipeline.warehouse.repositories import add_repository
from prmon_pipeline.warehouse.snapshot import read_snapshot

BENCH_SCHEMA = "prmon_bench"


@dataclass(frozen=True)
class LoadFigure:
    """One contender's measurement."""

    name: str
    rows: int
    seconds: float
    note: str = ""
    target: Any = None
    """What was loaded into (a table name, a dlt pipeline), for a second, re-sync round."""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _sa_url(url: str) -> str:
    _, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}"


def _sa_table(metadata: sa.MetaData, name: str) -> sa.Table:
    """The check-runs table for SQLAlchemy, generated from the Arrow schema (one source)."""
    kinds: dict[str, Any] = {
        "int64": sa.BigInteger,
        "large_string": sa.Text,
        "timestamp[us, tz=UTC]": sa.DateTime(timezone=True),
    }
    columns = [
        sa.Column(f.name, kinds[str(f.type)], primary_key=f.name in CHECK_RUN_KEY)
        for f in CHECK_RUN_SCHEMA
    ]
    return sa.Table(name, metadata, *columns, schema=BENCH_SCHEMA)


def _fresh_table(url: str, *, keyed: bool) -> str:
    name = f"runs_{uuid.uuid4().hex[:8]}"
    columns = ", ".join(
        f"{sql_text.quote_ident(f.name)} {sql_text.sql_type(f.type)}" for f in CHECK_RUN_SCHEMA
    )
    key = f", PRIMARY KEY ({sql_text.column_list(CHECK_RUN_KEY)})" if keyed else ""
    with connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BENCH_SCHEMA}")
        conn.execute(f"CREATE TABLE {BENCH_SCHEMA}.{name} ({columns}{key})")
    return name


def _timed(name: str, rows: int, work: Callable[[], object], note: str = "") -> LoadFigure:
    start = time.perf_counter()
    work()
    return LoadFigure(name, rows, time.perf_counter() - start, note)


def bare_copy(url: str, runs: pa.Table) -> LoadFigure:
    """COPY the rows (CSV from Polars) into an empty, unindexed table: the floor."""
    table = _fresh_table(url, keyed=False)

    def work() -> None:
        with connect(url) as conn, conn.cursor() as cursor:
            copy_sql = f"COPY {BENCH_SCHEMA}.{table} FROM STDIN (FORMAT csv)"
            with cursor.copy(copy_sql) as copy:
                copy.write(encode_csv(runs))
            conn.commit()

    return _timed("bare COPY (floor)", runs.num_rows, work)


def prmon_load(url: str, prs: pa.Table, runs: pa.Table) -> LoadFigure:
    """The project's load into a fresh repository (its PRs are loaded first, untimed)."""
    with connect(url, autocommit=True) as conn:
        repository_id = add_repository(conn, f"bench/load-{uuid.uuid4().hex[:8]}").id
        _load(conn, repository_id, prs, CHECK_RUN_SCHEMA.empty_table())

    def work() -> None:
        with connect(url, autocommit=True) as conn:
            _load(conn, repository_id, PULL_REQUEST_SCHEMA.empty_table(), runs)

    figure = _timed(PRMON_LOAD, runs.num_rows, work)
    return replace(figure, target=repository_id)


def prmon_resync(url: str, repository_id: int, runs: pa.Table) -> LoadFigure:
    """The project's way with rows it already holds: snapshot, changeset, load what changed."""

    def work() -> None:
        with connect(url, autocommit=True) as conn:
            snapshot_prs, snapshot_runs = read_snapshot(conn, repository_id, None)
            changes = compute_changeset(
                snapshot_prs, snapshot_prs, runs, snapshot_runs, "incremental"
            )
            _load(
                conn, repository_id, PULL_REQUEST_SCHEMA.empty_table(), changes.check_runs_to_upsert
            )

    return _timed("prmon (snapshot + changeset + load)", runs.num_rows, work)


def changed_tenth(runs: pa.Table) -> pa.Table:
    """The same check runs with one in ten changed (a new output title), for a re-sync."""
    frame = pl.from_arrow(runs)
    assert isinstance(frame, pl.DataFrame)
    edited = (
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(pl.lit("re-run summary"))
        .otherwise(pl.col("output_title"))
        .alias("output_title")
    )
    return conform(frame.with_columns(edited), CHECK_RUN_SCHEMA)


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


def sqlalchemy_core(url: str, runs: pa.Table, name: str | None = None) -> LoadFigure:
    """``insert().on_conflict_do_update()`` with a list of dicts (executemany).

    With ``name`` the rows go into that existing table (a re-sync); else into a fresh one.
    """
    name = name or _fresh_table(url, keyed=True)
    engine = sa.create_engine(_sa_url(url))
    table = _sa_table(sa.MetaData(), name)
    rows = runs.to_pylist()

    def work() -> None:
        statement = pg_insert(table)
        update = {c.name: statement.excluded[c.name] for c in table.columns if not c.primary_key}
        with engine.begin() as conn:
            conn.execute(
                statement.on_conflict_do_update(index_elements=list(CHECK_RUN_KEY), set_=update),
                rows,
            )

    try:
        return replace(_timed("SQLAlchemy Core upsert", len(rows), work), target=name)
    finally:
        engine.dispose()


def sqlalchemy_orm(url: str, runs: pa.Table, limit: int = 5_000) -> LoadFigure:
    """An ORM session merging one object per row, committed once (SELECT + INSERT per row)."""
    name = _fresh_table(url, keyed=True)
    engine = sa.create_engine(_sa_url(url))
    mapper_registry = registry()
    table = _sa_table(mapper_registry.metadata, name)
    model = type("CheckRun", (), {})
    mapper_registry.map_imperatively(model, table)
    rows = runs.slice(0, limit).to_pylist()

    def work() -> None:
        with Session(engine) as session:
            for row in rows:
                obj = model()
                for key, value in row.items():
                    setattr(obj, key, value)
                session.merge(obj)
            session.commit()

    note = f"first {len(rows)} rows" if runs.num_rows > len(rows) else ""
    try:
        return _timed("SQLAlchemy ORM per-row merge", len(rows), work, note)
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


def dlt_merge(url: str, runs: pa.Table, workdir: str, pipeline: Any = None) -> LoadFigure:
    """dlt's PostgreSQL destination, ``write_disposition="merge"`` on the check-run key.

    With ``pipeline`` (from a first round) the rows merge into what that pipeline loaded.
    """
    import dlt  # noqa: PLC0415 - the optional bench group; the other contenders work without it

    if pipeline is None:
        dataset = f"dlt_{uuid.uuid4().hex[:8]}"
        pipeline = dlt.pipeline(
            pipeline_name=dataset,
            pipelines_dir=workdir,
            destination=dlt.destinations.postgres(credentials=dlt_credentials_url(url)),
            dataset_name=dataset,
        )

    def work() -> None:
        pipeline.run(
            runs,
            table_name="check_runs",
            write_disposition="merge",
            primary_key=list(CHECK_RUN_KEY),
        )

    try:
        figure = _timed("dlt merge", runs.num_rows, work)
    except Exception as exc:
        cause = _root_cause(exc)
        first_line = (str(cause).strip().splitlines() or [""])[0]
        raise RuntimeError(f"dlt merge failed: {type(cause).__name__}: {first_line}") from exc
    return replace(figure, target=pipeline)

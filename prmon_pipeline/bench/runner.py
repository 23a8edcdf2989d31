"""``prmon bench``: the pipeline's figures, and the baselines measured in the same run.

fakehub runs in its own process (``world_process``), each measured sync cycle in another
(``sync_process``), so the peak RSS reported is the sync's own and the simulator's CPU shows up
as what it is: a neighbour on the same two cores.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
from psycopg import sql

from prmon_pipeline.bench import load_baselines
from prmon_pipeline.bench.changeset_baseline import (
    best_seconds,
    compute_changeset_baseline,
    synthetic_changeset_inputs,
)
from prmon_pipeline.bench.events import EventsConfig, run_events
from prmon_pipeline.core.changeset import compute_changeset
from prmon_pipeline.core.changeset_digests import compute_changeset_digest_first
from prmon_pipeline.sync.options import SyncOptions
from prmon_pipeline.warehouse.connection import connect, with_database
from prmon_pipeline.warehouse.migrations import migrate
from prmon_pipeline.warehouse.repositories import add_repository, list_repositories
from prmon_pipeline.warehouse.snapshot import read_snapshot

Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """The world and what to measure."""

    repositories: int = 100
    prs: int = 1000
    checks: int = 8
    huge_prs: int = 100_000
    concurrency: int = 4
    """Repositories synced at once, as ``prmon sync`` does by default. On two cores, 8 at once
    measured the same wall time (73-74 s cold) at 429 MB peak RSS instead of 368 MB; the
    client's own bound (8 concurrent requests) is the same either way."""
    dagster: bool = True
    baselines: bool = True
    huge: bool = True
    events: bool = True
    only: str | None = None
    """``events``: the events scenario alone (after the cold sync it starts from)."""
    quick: bool = False

    @classmethod
    def quick_config(cls) -> BenchConfig:
        return cls(repositories=3, prs=60, checks=4, huge_prs=2_000, concurrency=2, quick=True)

    def events_config(self) -> EventsConfig:
        return EventsConfig.quick() if self.quick else EventsConfig()


class WorldProcess:
    """The fakehub child process and its line protocol."""

    def __init__(self, repositories: int, prs: int, checks: int) -> None:
        command = [
            sys.executable,
            "-m",
            "prmon_pipeline.bench.world_process",
            f"--repos={repositories}",
            f"--prs={prs}",
            f"--checks={checks}",
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        hello = self._read()
        self.url = str(hello["url"])
        self.generate_seconds = float(str(hello["generate_seconds"]))

    def _read(self) -> dict[str, object]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("fakehub process ended unexpectedly")
        data: dict[str, object] = orjson.loads(line)
        return data

    def ask(self, **command: object) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(command).decode() + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.ask(quit=True)
        finally:
            self.process.wait(timeout=30)
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()


@contextmanager
def world_process(repositories: int, prs: int, checks: int) -> Iterator[WorldProcess]:
    world = WorldProcess(repositories, prs, checks)
    try:
        yield world
    finally:
        world.close()


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A fresh, migrated database for one benchmark run, dropped afterwards."""
    name = f"prmon_bench_{uuid.uuid4().hex[:10]}"
    with connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        with connect(url, autocommit=True) as conn:
            migrate(conn)
        yield url
    finally:
        with connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_copy(server_url: str, url: str) -> Iterator[str]:
    """A copy of the bench database (``CREATE DATABASE … TEMPLATE``), dropped afterwards: the
    same warehouse for a cycle measured twice. No session may be connected to the original."""
    name = f"prmon_bench_copy_{uuid.uuid4().hex[:10]}"
    original = urlsplit(url).path.lstrip("/")
    with connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(original)
            )
        )
    try:
        yield with_database(server_url, name)
    finally:
        with connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


TOKEN_HOUR = 5_000
"""A personal token's hourly budget in each pool (REST core units, GraphQL points)."""


def run_cycle(
    database_url: str,
    world: WorldProcess,
    engine: str,
    concurrency: int,
    api: str = "auto",
    *,
    mode: str = "incremental",
    compare_paths: bool = False,
) -> dict[str, object]:
    """One sync cycle of every registered repository in a child process, with GitHub's cost.

    ``token_hours``: how many hours of one personal token's budget the cycle needs, the pools
    being separate: the larger of REST units and GraphQL points, over 5,000. ``compare_paths``
    times both comparison paths on the cycle's rows (``sync.path_comparison``).
    """
    world.ask(reset=True)
    command = [
        sys.executable,
        "-m",
        "prmon_pipeline.bench.sync_process",
        f"--database-url={database_url}",
        f"--api-url={world.url}",
        f"--engine={engine}",
        f"--concurrency={concurrency}",
        f"--api={api}",
        f"--mode={mode}",
        *(["--compare-paths"] if compare_paths else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"sync cycle failed: {done.stderr.strip().splitlines()[-1:]}")
    figures: dict[str, object] = orjson.loads(done.stdout.strip().splitlines()[-1])
    figures.update(write_rate(figures))
    github = world.ask(stats=True)
    figures["github_requests"] = github["requests"]
    figures["github_not_modified"] = github["not_modified"]
    figures["rate_limit_spent"] = github["rate_limit_spent"]
    figures["graphql_points"] = github["graphql_points"]
    figures["graphql_queries"] = github["graphql_queries"]
    units, points = int(str(github["rate_limit_spent"])), int(str(github["graphql_points"]))
    figures["budget_spent"] = units + points
    figures["token_hours"] = round(max(units, points) / TOKEN_HOUR, 3)
    figures["github_by_status"] = github["by_status"]
    figures["github_by_route"] = github["by_route"]
    return figures


WRITTEN = ("prs_new", "prs_updated", "check_runs_new", "check_runs_updated")


def write_rate(figures: dict[str, object]) -> dict[str, object]:
    """Rows the cycle wrote (new and updated PRs and check runs) and how many a second."""
    written = sum(int(str(figures[key])) for key in WRITTEN)
    wall = float(str(figures["wall_seconds"]))
    return {"rows_written": written, "rows_per_second": round(written / wall) if wall else 0}


def warehouse_matches(database_url: str, world: WorldProcess) -> bool:
    """Every repository holds as many live PRs as GitHub shows, up to the newest update."""
    truth = world.ask(truth=True)
    with connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.full_name, count(p.id), max(p.updated_at) FROM prmon.repositories r"
            " LEFT JOIN prmon.pull_requests p ON p.repository_id = r.id AND p.deleted_at IS NULL"
            " GROUP BY r.full_name"
        ).fetchall()
    stored = {str(name): (int(str(count)), newest) for name, count, newest in rows}
    for name, expected in truth.items():
        assert isinstance(expected, dict)
        count, newest = stored.get(name, (0, None))
        newest_text = (
            newest.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(newest, datetime) else None
        )
        if count != expected["pull_requests"] or newest_text != expected["newest_updated_at"]:
            return False
    return True


def _reset_warehouse(database_url: str) -> None:
    with connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE prmon.pull_requests, prmon.check_runs, prmon.pr_state_history,"
            " prmon.sync_runs, prmon.sync_cursors, prmon.check_run_etags,"
            " prmon.check_run_failures, prmon.webhook_deliveries, prmon.webhook_recoveries"
        )
        conn.execute(
            "UPDATE prmon.repositories SET last_success_at = NULL, failure_count = 0,"
            " last_error = NULL"
        )


def _all_rows(database_url: str) -> tuple[pa.Table, pa.Table]:
    prs, runs = [], []
    with connect(database_url, autocommit=True) as conn:
        for repository in list_repositories(conn):
            pr_table, run_table = read_snapshot(conn, repository.id, None)
            # Renumber so that rows of different repositories never share a key.
            offset = repository.id * 10_000_000
            prs.append(pr_table.set_column(0, "number", pa.compute.add(pr_table["number"], offset)))
            runs.append(
                run_table.set_column(0, "pr_number", pa.compute.add(run_table["pr_number"], offset))
            )
    return pa.concat_tables(prs), pa.concat_tables(runs)


def run_benchmark(server_url: str, config: BenchConfig, say: Say) -> dict[str, object]:
    """Every scenario of the benchmark; returns the figures (also what the JSON file holds)."""
    results: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.__dict__,
    }
    with (
        bench_database(server_url) as url,
        world_process(config.repositories, config.prs, config.checks) as world,
    ):
        say(
            f"fakehub: {config.repositories} × {config.prs} PRs generated in "
            f"{world.generate_seconds:.1f} s at {world.url}"
        )
        results["world_generate_seconds"] = world.generate_seconds
        _register(url, world)
        if config.only == "events":
            say("cold sync (engine), the events scenario's starting point…")
            results["cold_direct"] = run_cycle(url, world, "direct", config.concurrency)
            results["cold_matches"] = warehouse_matches(url, world)
            results["events"] = run_events(server_url, url, world, config.events_config(), say)
            return results
        say("cold sync (engine, REST only)…")
        results["cold_direct_rest"] = run_cycle(url, world, "direct", config.concurrency, "rest")
        results["cold_rest_matches"] = warehouse_matches(url, world)
        _reset_warehouse(url)
        say("cold sync (engine, check runs by GraphQL)…")
        results["cold_direct"] = run_cycle(url, world, "direct", config.concurrency)
        results["cold_matches"] = warehouse_matches(url, world)
        if config.dagster:
            _reset_warehouse(url)
            say("cold sync (Dagster, single-run backfill)…")
            results["cold_dagster"] = run_cycle(url, world, "dagster", config.concurrency)
            results["cold_dagster_matches"] = warehouse_matches(url, world)
        world.ask(advance=600)
        say("incremental cycle (1 % churn), both comparison paths, on a copy of the warehouse…")
        with database_copy(server_url, url) as copy_url:
            results["incremental_paths"] = run_cycle(
                copy_url, world, "direct", config.concurrency, compare_paths=True
            )
        say("incremental cycle (1 % churn)…")
        results["incremental"] = run_cycle(url, world, "direct", config.concurrency)
        results["incremental_matches"] = warehouse_matches(url, world)
        say("steady cycle (nothing changed)…")
        results["steady"] = run_cycle(url, world, "direct", config.concurrency)
        if config.events:  # the warehouse equals the world here: the events' starting point
            results["events"] = run_events(server_url, url, world, config.events_config(), say)
        if config.baselines:
            # Last: their 300k-row tables, deletes and the autovacuum that follows them would
            # otherwise compete with the measured cycles for the same two cores.
            say("load and changeset baselines on the synced rows…")
            results["baselines"] = _baselines(url, say)
    if config.huge:
        say(f"one repository with {config.huge_prs} PRs…")
        huge = _huge(server_url, config, say)
        results["huge_full"] = huge.pop("full_reconciliation")
        results["huge"] = huge
    return results


def _register(url: str, world: WorldProcess) -> None:
    truth = world.ask(truth=True)
    with connect(url, autocommit=True) as conn:
        for name in truth:
            add_repository(conn, name)


def _baselines(url: str, say: Say) -> dict[str, object]:
    """Every load contender on both kinds of table (see ``load_baselines``), then the re-sync
    round and the changeset baseline; the figures grouped by round and kind of table."""
    prs, runs = _all_rows(url)
    rows = load_baselines.prepare_rows(url, prs, runs)
    kinds = rows.kinds()
    groups: dict[str, list[load_baselines.LoadFigure]] = {}
    with tempfile.TemporaryDirectory() as dlt_dir:
        ours = load_baselines.prmon_load(url, rows)
        for kind in kinds:
            groups[_group("load", kind)] = [
                load_baselines.bare_copy(url, kind),
                ours,
                load_baselines.sqlalchemy_core(url, kind),
                load_baselines.sqlalchemy_orm(url, kind),
                *_dlt_figures(url, kind, dlt_dir, say),
            ]
        say("re-sync of the same rows with one in ten changed…")
        own_kind = kinds[0]  # prmon's re-sync takes the runs as the pipeline holds them
        resync_runs = load_baselines.changed_tenth(own_kind).rows
        resync_paths = load_baselines.resync_paths(url, rows, resync_runs)
        resynced = load_baselines.prmon_resync(
            url, rows, resync_runs, SyncOptions(mode="full").comparison_path()
        )
        for kind in kinds:
            first = {f.name: f.target for f in groups[_group("load", kind)]}
            again = load_baselines.changed_tenth(kind)
            dlt_again = (  # a re-sync only of what dlt loaded in the first round
                _dlt_figures(url, again, dlt_dir, say, first["dlt merge"])
                if "dlt merge" in first
                else []
            )
            groups[_group("resync", kind)] = [
                resynced,
                load_baselines.sqlalchemy_core(url, again, first["SQLAlchemy Core upsert"]),
                *dlt_again,
            ]
    datasets = [
        f.target.dataset_name for fs in groups.values() for f in fs if f.name == "dlt merge"
    ]
    load_baselines.drop_tables(url, sorted(set(datasets)))
    with connect(url, autocommit=True) as conn:  # the baselines' repository is no real one
        conn.execute("DELETE FROM prmon.repositories WHERE id = %s", (rows.repository_id,))
    changeset = measure_changeset(prs.num_rows, runs.num_rows)
    return {
        "check_runs": runs.num_rows,
        **{name: _figures(figures) for name, figures in groups.items()},
        "changeset": changeset,
        "resync_paths": resync_paths,
    }


def _group(round_name: str, kind: load_baselines.TableKind) -> str:
    """``load``/``resync`` on the contenders' own tables, ``…_like_prmon`` on the contract's."""
    return f"{round_name}_like_prmon" if kind.like_prmon else round_name


def _dlt_figures(
    url: str, kind: load_baselines.TableKind, workdir: str, say: Say, pipeline: object = None
) -> list[load_baselines.LoadFigure]:
    """dlt's figure, or none when it is not installed or fails (said, not fatal)."""
    try:
        return [load_baselines.dlt_merge(url, kind, workdir, pipeline)]
    except Exception as exc:  # dlt is optional; its absence or failure is reported
        say(f"dlt baseline skipped: {str(exc).splitlines()[0]}")
        return []


def _figures(figures: list[load_baselines.LoadFigure]) -> dict[str, object]:
    return {
        f.name: {
            "rows": f.rows,
            "seconds": round(f.seconds, 3),
            "rows_per_second": round(f.rows_per_second),
            "stored": f.stored,
            "note": f.note,
        }
        for f in figures
    }


def measure_changeset(pr_count: int, run_count: int) -> dict[str, object]:
    """Polars changeset against the dict baseline on inputs of the cold sync's size, 10% changed.

    The inputs are synthesised (``synthetic_changeset_inputs``) at the same row counts, so both
    contenders see identical tables and the check that their summaries agree is meaningful.
    """
    inputs = synthetic_changeset_inputs(max(pr_count, 10), max(run_count, 10))
    args = (
        inputs.incoming_prs,
        inputs.snapshot_prs,
        inputs.incoming_check_runs,
        inputs.snapshot_check_runs,
        inputs.mode,
    )
    polars_seconds = best_seconds(lambda: compute_changeset(*args), repeats=3)
    dict_seconds = best_seconds(lambda: compute_changeset_baseline(*args), repeats=1)
    baseline = compute_changeset_baseline(*args).summary()
    agree = (
        compute_changeset(*args).summary() == baseline
        and compute_changeset_digest_first(*args).summary() == baseline
    )
    rows = sum(t.num_rows for t in args[:4] if isinstance(t, pa.Table))
    return {
        "input_rows": rows,
        "polars_rows_per_second": round(rows / polars_seconds),
        "dict_rows_per_second": round(rows / dict_seconds),
        "speedup": round(dict_seconds / polars_seconds, 1),
        "results_agree": agree,
    }


def _huge(server_url: str, config: BenchConfig, say: Say) -> dict[str, object]:
    """The huge repository's first sync, then its full reconciliation (nothing changed: the
    nightly case), with both comparison paths timed on the reconciliation's rows."""
    with bench_database(server_url) as url, world_process(1, config.huge_prs, 2) as world:
        _register(url, world)
        figures = run_cycle(url, world, "direct", config.concurrency)
        figures["matches"] = warehouse_matches(url, world)
        figures["world_generate_seconds"] = world.generate_seconds
        say(f"full reconciliation of the {config.huge_prs}-PR repository, both paths…")
        full = run_cycle(url, world, "direct", config.concurrency, mode="full", compare_paths=True)
        full["matches"] = warehouse_matches(url, world)
        return {**figures, "full_reconciliation": full}

"""The load baselines' plumbing: dlt reaches the server however its URL names it, and a table
"like prmon.check_runs" really has the contract table's keys, indexes and foreign key."""

from __future__ import annotations

import psycopg
import pytest
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from prmon_pipeline.bench.load_baselines import create_like_prmon, dlt_credentials_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/bench",
            "postgresql://postgres:unused@127.0.0.1:5432/bench",
        ),
        (
            "postgresql://prmon:secret@db.internal/bench?sslmode=require",
            "postgresql://prmon:secret@db.internal/bench?sslmode=require",
        ),
        (  # the embedded server: its socket directory in a query parameter
            "postgresql://postgres:@/postgres?host=/home/me/.prmon/pgdata",
            "postgresql://postgres:unused@%2Fhome%2Fme%2F.prmon%2Fpgdata/postgres",
        ),
    ],
)
def test_dlt_gets_a_password_and_a_host_in_the_authority(url: str, expected: str) -> None:
    assert dlt_credentials_url(url) == expected


def test_dlt_resolves_the_embedded_servers_socket_as_its_host() -> None:
    credentials = PostgresCredentials()
    credentials.parse_native_representation(
        dlt_credentials_url("postgresql://postgres:@/prmon?host=/tmp/pg")
    )
    assert credentials.host and credentials.password and credentials.database == "prmon"
    assert "%2Ftmp%2Fpg" in credentials.to_native_representation()


def _table_shape(db: psycopg.Connection[tuple[object, ...]], table: str) -> tuple[object, ...]:
    constraints = db.execute(
        "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass ORDER BY 1, 2",
        (table,),
    ).fetchall()
    indexes = db.execute(
        "SELECT regexp_replace(pg_get_indexdef(indexrelid), '^.* USING ', '') FROM pg_index"
        " WHERE indrelid = %s::regclass ORDER BY 1",
        (table,),
    ).fetchall()
    columns = db.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull, attidentity"
        " FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum",
        (table,),
    ).fetchall()
    return tuple(constraints), tuple(indexes), tuple(columns)


@pytest.mark.postgres
def test_a_table_like_prmon_check_runs_has_its_keys_indexes_and_foreign_key(
    db: psycopg.Connection[tuple[object, ...]],
) -> None:
    db.execute("CREATE SCHEMA IF NOT EXISTS bench_shape")
    try:
        create_like_prmon(db, "bench_shape", "runs")
        copy = _table_shape(db, "bench_shape.runs")
        original = _table_shape(db, "prmon.check_runs")
        assert copy == original
        kinds = [kind for kind, _ in copy[0]]
        assert "f" in kinds and "p" in kinds and "u" in kinds  # the foreign key came along
        assert len(copy[1]) == 4  # identity key, unique key and both secondary indexes
    finally:
        db.execute("DROP SCHEMA bench_shape CASCADE")

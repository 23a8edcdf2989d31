"""The load baselines' plumbing: dlt reaches the server however its URL names it."""

from __future__ import annotations

import pytest
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from prmon_pipeline.bench.load_baselines import dlt_credentials_url


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

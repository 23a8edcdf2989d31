"""``prmon sync --events``: apply the pending deliveries once, print the figures, exit."""

from __future__ import annotations

import json

import pytest

from prmon_pipeline.cli import main
from prmon_pipeline.fakehub import World
from prmon_pipeline.warehouse.connection import connect
from prmon_pipeline_tests.webhook_envelopes import (
    insert_delivery,
    pull_request_body,
    repository_object,
)

pytestmark = pytest.mark.usefixtures("cli_env")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sync_events_applies_pending_deliveries_once(
    capsys: pytest.CaptureFixture[str], world: World, warehouse_url: str
) -> None:
    registered, unregistered = world.repository_names()
    assert run(capsys, "repos", "add", registered)[0] == 0
    with connect(warehouse_url, autocommit=True) as conn:
        for name in (registered, unregistered):
            repo = repository_object(world, name)
            pr = world.pull_request(name, world.pull_requests(name)[0]["number"])
            insert_delivery(conn, "pull_request", pull_request_body(repo, pr), repository=repo)

    code, out, err = run(capsys, "sync", "--events", "--json")

    assert code == 0, err
    (figures,) = json.loads(out)
    assert figures["repository"] == registered and figures["mode"] == "events"
    assert (figures["deliveries_applied"], figures["prs_new"], figures["api_requests"]) == (1, 1, 0)
    assert "1 deliveries of unregistered repositories ignored" in err
    code, out, _ = run(capsys, "sync", "--events", registered)
    assert code == 0 and "events summary" in out  # nothing pending: an empty summary
    _, out, _ = run(capsys, "status", "--json")
    assert json.loads(out)["webhook_deliveries"] == {
        "pending": 0,
        "applied": 1,
        "ignored": 1,
        "rejected": 0,
    }
    _, out, _ = run(capsys, "status")
    assert "webhook deliveries: 0 pending, 1 applied, 1 ignored, 0 rejected" in out
    code, _, err = run(capsys, "sync", "--events", "--full")
    assert code != 0 and "--events cannot be combined with --full" in err
